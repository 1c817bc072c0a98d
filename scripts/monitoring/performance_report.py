#!/usr/bin/env python3
"""Performance over the last N days from the books: equity curve, total and annualised return,
drawdown, Sharpe/Sortino/Calmar, realised P&L (FIFO), win rate, orders and fills, per strategy.

    python scripts/monitoring/performance_report.py --period 30
    python scripts/monitoring/performance_report.py --period 7 --html reports/week.html
    python scripts/monitoring/performance_report.py --period 30 --end 2024-01-31

The period ends at the books' latest account snapshot or fill unless --end is given. Exits 1
with the reason when the database cannot be read. A thin wrapper over `trader ops performance`;
it runs the project's .venv/bin/trader from any Python.
"""

import os
import shutil
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def trader_command() -> str:
    configured = os.environ.get("TRADER_BIN")
    if configured:
        return configured
    local = REPOSITORY / ".venv" / "bin" / "trader"
    if local.exists():
        return str(local)
    found = shutil.which("trader")
    if found is None:
        sys.stderr.write("error: no trader command; run `make install` (or pip install -e .) first\n")
        sys.exit(2)
    return found


if __name__ == "__main__":
    if any(argument in ("-h", "--help") for argument in sys.argv[1:]):
        sys.stdout.write(__doc__ or "")
        sys.exit(0)
    os.chdir(REPOSITORY)
    command = trader_command()
    os.execv(command, [command, *["ops", "performance"], *sys.argv[1:]])  # noqa: S606 - our own CLI
