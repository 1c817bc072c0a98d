# Sourced by the shell scripts: cd to the repository and set $trader_bin to the project's CLI
# ($TRADER_BIN, else .venv/bin/trader, else a `trader` on PATH).
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
trader_bin="${TRADER_BIN:-}"
if [[ -z "$trader_bin" ]]; then
  if [[ -x .venv/bin/trader ]]; then trader_bin=.venv/bin/trader; else trader_bin=trader; fi
fi
