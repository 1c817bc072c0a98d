#!/usr/bin/env bash
# System information for a support request: host, disk, memory, Docker (when present),
# each service's /health, the database and Redis. Exits 1 if a service or back end is down.
#   ./scripts/diagnostics/system_info.sh
# Without Docker the container sections say so and the rest still runs.
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
source "$(dirname "$0")/../lib/trader_bin.sh"
failed=0

echo "=== System Information ==="
date
uname -a
df -h
free -h 2>/dev/null || echo "free: not available"
if command -v docker >/dev/null 2>&1; then
  docker --version
  docker-compose --version 2>/dev/null || docker compose version 2>/dev/null || echo "docker-compose: not installed"
  echo "=== Container Status ==="
  docker-compose ps 2>/dev/null || docker compose ps 2>/dev/null || echo "(no compose project here)"
  echo "=== Container Resources ==="
  docker stats --no-stream 2>/dev/null || echo "(docker stats unavailable)"
else
  echo "docker: not installed (services run as processes: trader up / trader serve)"
  echo "=== Container Status ==="
  echo "(skipped: no Docker)"
fi

echo "=== Service Health ==="
# The guide's ports, unless the environment moved a service (DATA_COLLECTOR_PORT=...).
for port in "${DATA_COLLECTOR_PORT:-8001}" "${STRATEGY_ENGINE_PORT:-8002}" "${RISK_MANAGER_PORT:-8003}" \
            "${TRADE_EXECUTOR_PORT:-8004}" "${SCHEDULER_PORT:-8005}" "${EXPORT_SERVICE_PORT:-8006}" \
            "${MAINTENANCE_SERVICE_PORT:-8007}"; do
  echo -n "Port $port: "
  code=$(curl -s -w "%{http_code}" "http://localhost:$port/health" -o /dev/null) || code="FAILED"
  echo "$code"
  [[ "$code" == "200" ]] || failed=1
done

echo "=== Database Status ==="
if ! "$trader_bin" ops database-status; then failed=1; fi

echo "=== Redis Status ==="
if [[ -n "${REDIS_URL:-}" ]] && command -v redis-cli >/dev/null 2>&1; then
  redis-cli -u "$REDIS_URL" ping || failed=1
elif [[ -n "${REDIS_URL:-}" ]]; then
  echo "redis-cli not installed; REDIS_URL is set"
else
  echo "not configured (embedded default: in-process bus, cache and rate limits)"
fi
exit $failed
