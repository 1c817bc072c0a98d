#!/usr/bin/env bash
# Verify every backup: its sha256 against the manifest, that the archive opens (SQLite
# integrity_check, pg_restore --list), and that the newest is recent. Exit 1 on any problem.
#   ./scripts/backup/verify_backups.sh [--max-age-hours 26] [--env ENVIRONMENT] [--dir DIRECTORY]
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
source "$(dirname "$0")/../lib/trader_bin.sh"
shared=()
verify=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --env|-e|--dir) shared+=("$1" "$2"); shift 2 ;;
    *) verify+=("$1"); shift ;;
  esac
done
exec "$trader_bin" backup "${shared[@]}" verify "${verify[@]}"
