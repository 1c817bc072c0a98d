#!/usr/bin/env bash
# Bring the database schema up to date for an environment.
#   ./scripts/deployment/migrate.sh development|staging|production [--provision]
# --provision first creates the `trader` role and `trading_system` database on PostgreSQL
# (idempotent), using POSTGRES_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

usage() {
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
}

environment="${1:-}"
case "$environment" in
  -h|--help) usage; exit 0 ;;
  development|staging|production|test) ;;
  *) usage >&2; echo "error: give the environment (development, staging, production)" >&2; exit 2 ;;
esac
shift

provision=false
for argument in "$@"; do
  case "$argument" in
    --provision) provision=true ;;
    *) echo "error: unknown option $argument" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/../lib/trader_bin.sh"

if $provision; then
  "$trader_bin" db provision
fi
ENVIRONMENT="$environment" "$trader_bin" migrate "$environment"
