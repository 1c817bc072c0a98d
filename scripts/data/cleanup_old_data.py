#!/usr/bin/env python3
"""Delete data older than N days to keep the database small.

    python scripts/data/cleanup_old_data.py --days 30            delete
    python scripts/data/cleanup_old_data.py --days 30 --dry-run  only count what would go
    python scripts/data/cleanup_old_data.py --days 30 --tables audit_logs,job_runs

Cleans audit logs, job runs, account snapshots, export records, signals and risk decisions no
order refers to, and market data bars. Orders (trades), fills and positions are never deleted.
A thin wrapper over `trader integrity cleanup`; it runs the project's .venv/bin/trader.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from trader_cli import hand_over

if __name__ == "__main__":
    hand_over(__doc__, "integrity", "cleanup")
