#!/usr/bin/env python3
"""Capacity planning: database size per table with its growth (rows per day from the rows'
timestamps), disk free under the data, logs and backups directories, Redis memory (when
REDIS_URL is set), log volume, and the days until each disk fills at the observed growth.

    python scripts/monitoring/capacity_analysis.py [--json] [--env ENVIRONMENT]

Exits 1 with the reason when the database (or a configured Redis) cannot be reached.
A thin wrapper over `trader ops capacity`; it runs the project's .venv/bin/trader from any Python.
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
    os.execv(command, [command, *["ops", "capacity"], *sys.argv[1:]])  # noqa: S606 - our own CLI
