#!/usr/bin/env python3
"""Capacity planning: database size per table with its growth (rows per day from the rows'
timestamps), disk free under the data, logs and backups directories, Redis memory (when
REDIS_URL is set), log volume, and the days until each disk fills at the observed growth.

    python scripts/monitoring/capacity_analysis.py [--json] [--env ENVIRONMENT]

Exits 1 with the reason when the database (or a configured Redis) cannot be reached.
A thin wrapper over `trader ops capacity`; it runs the project's .venv/bin/trader from any Python.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from trader_cli import hand_over

if __name__ == "__main__":
    hand_over(__doc__, "ops", "capacity")
