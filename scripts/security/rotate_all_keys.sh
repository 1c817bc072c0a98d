#!/usr/bin/env bash
# Rotate the keys this system issues (API_SECRET_KEY, API_TOKEN) in the environment file,
# keeping the previous file as <file>.<timestamp>.bak (mode 600), and list the provider keys
# (Twelve Data, Alpaca) that must be regenerated in the providers' dashboards.
#   ./scripts/security/rotate_all_keys.sh [--env ENVIRONMENT] [--env-file PATH]
# Restart the services afterwards; JWTs signed with the old secret stop working.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
source "$(dirname "$0")/../lib/trader_bin.sh"
exec "$trader_bin" security rotate-keys "$@"
