#!/usr/bin/env bash
# Restore the newest backup into a scratch database (dropped afterwards) and compare every
# table's row count and checksum with the backup's manifest. Exit 1 on any difference.
#   ./scripts/backup/test_restore.sh [--full-test] [--backup NAME] [--env ENVIRONMENT] [--dir DIRECTORY]
# --full-test also runs the data integrity checks on the restored copy. On PostgreSQL the
# scratch database is created by the app role, or through POSTGRES_ADMIN_URL if it may not.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
source "$(dirname "$0")/../lib/trader_bin.sh"
shared=()
test_options=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --env|-e|--dir) shared+=("$1" "$2"); shift 2 ;;
    *) test_options+=("$1"); shift ;;
  esac
done
exec "$trader_bin" backup "${shared[@]}" test-restore "${test_options[@]}"
