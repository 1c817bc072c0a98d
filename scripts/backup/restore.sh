#!/usr/bin/env bash
# Restore the database from a backup, then verify every table against the backup's manifest.
#   ./scripts/backup/restore.sh --latest              newest backup
#   ./scripts/backup/restore.sh --backup NAME         a given backup (see: trader backup list)
#   ./scripts/backup/restore.sh --emergency --latest  halt trading first, restore, verify,
#                                                     and leave trading HALTED until resumed
# Options: --env ENVIRONMENT, --dir DIRECTORY, --no-safety-copy (skip the pre-restore copy).
set -euo pipefail
case "${1:-}" in -h|--help|"") sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; [[ -n "${1:-}" ]]; exit $? ;; esac
source "$(dirname "$0")/../lib/trader_bin.sh"
exec "$trader_bin" restore "$@"
