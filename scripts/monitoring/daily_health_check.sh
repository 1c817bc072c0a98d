#!/usr/bin/env bash
# The daily check: whole-system status (maintenance service /status), the database, the
# backups (newest recent, checksums good), data integrity, today's log errors and disk space.
#   ./scripts/monitoring/daily_health_check.sh
# Prints one line per check and exits 1 if any check failed.
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
source "$(dirname "$0")/../lib/trader_bin.sh"
failed=()
check() {
  local name="$1"; shift
  local output
  if output=$("$@" 2>&1); then
    echo "[ OK ] $name"
  else
    echo "[FAIL] $name"
    echo "$output" | tail -15 | sed 's/^/       /'
    failed+=("$name")
  fi
}
check "system status (:8007/status)" "$trader_bin" status
check "database" "$trader_bin" ops database-status
check "backups" "$trader_bin" backup verify
check "data integrity" "$trader_bin" integrity check
log_dir="${LOG_DIR:-logs}"
errors=$(cat "$log_dir"/*.log 2>/dev/null | grep -c " ERROR " || true)
echo "[INFO] log lines at ERROR today in $log_dir: $(grep -h "^$(date -u +%Y-%m-%d) .* ERROR " "$log_dir"/*.log 2>/dev/null | wc -l) (all time: $errors)"
if df -h | grep -E "(9[0-9]%|100%)"; then
  echo "[FAIL] disk space (a file system is 90% full or more)"; failed+=("disk space")
else
  echo "[ OK ] disk space"
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all checks passed"
