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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from trader_cli import hand_over

if __name__ == "__main__":
    hand_over(__doc__, "ops", "performance")
