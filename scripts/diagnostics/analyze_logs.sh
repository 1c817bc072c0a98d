#!/usr/bin/env bash
# Summarise the last 24 hours of logs (logs/*.log, lines "YYYY-MM-DD HH:MM:SS,mmm LEVEL logger: message")
# and the critical audit events from the database.
#   ./scripts/diagnostics/analyze_logs.sh [LOG_DIR]
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
source "$(dirname "$0")/../lib/trader_bin.sh"
log_dir="${1:-${LOG_DIR:-logs}}"
if [[ ! -d "$log_dir" ]]; then
  echo "error: no log directory $log_dir (set LOG_DIR or pass it)" >&2
  exit 1
fi

echo "=== Error Summary (Last 24 Hours) ==="
find "$log_dir"/ -name "*.log" -mtime -1 -exec grep -h " ERROR " {} \; | \
  cut -d' ' -f4- | sort | uniq -c | sort -nr | head -20

echo "=== Warning Summary (Last 24 Hours) ==="
find "$log_dir"/ -name "*.log" -mtime -1 -exec grep -h " WARNING " {} \; | \
  cut -d' ' -f4- | sort | uniq -c | sort -nr | head -10

echo "=== Recent Critical Events ==="
"$trader_bin" ops critical-events --hours 24
