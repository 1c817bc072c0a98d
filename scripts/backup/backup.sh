#!/usr/bin/env bash
# Back up the database now: pg_dump (PostgreSQL) or the online backup API (SQLite), with a
# sha256, a manifest (row count + checksum per table) and the retention policy applied.
#   ./scripts/backup/backup.sh [--env ENVIRONMENT] [--dir DIRECTORY] [--no-prune]
# Backups go to BACKUP_DIR (default backups/); BACKUP_RETENTION_DAYS sets how long they stay.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
source "$(dirname "$0")/../lib/trader_bin.sh"
exec "$trader_bin" backup "$@"
