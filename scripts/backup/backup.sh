#!/usr/bin/env bash
# Back up the database now: pg_dump (PostgreSQL) or the online backup API (SQLite), with a
# sha256, a manifest (row count + checksum per table) and the retention policy applied.
#   ./scripts/backup/backup.sh [--env ENVIRONMENT] [--dir DIRECTORY] [--no-prune]
# Backups go to BACKUP_DIR (default backups/); BACKUP_RETENTION_DAYS sets how long they stay.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/../.."
trader_bin="${TRADER_BIN:-}"
if [[ -z "$trader_bin" ]]; then
  if [[ -x .venv/bin/trader ]]; then trader_bin=.venv/bin/trader; else trader_bin=trader; fi
fi
exec "$trader_bin" backup "$@"
