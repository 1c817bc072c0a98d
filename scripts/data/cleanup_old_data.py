#!/usr/bin/env python3
"""Delete data older than N days to keep the database small.

    python scripts/data/cleanup_old_data.py --days 30            delete
    python scripts/data/cleanup_old_data.py --days 30 --dry-run  only count what would go
    python scripts/data/cleanup_old_data.py --days 30 --tables audit_logs,job_runs

Cleans audit logs, job runs, account snapshots, export records, signals and risk decisions no
order refers to, and market data bars. Orders (trades), fills and positions are never deleted.
A thin wrapper over `trader integrity cleanup`; it runs the project's .venv/bin/trader.
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
    os.execv(command, [command, "integrity", "cleanup", *sys.argv[1:]])  # noqa: S606 - our own CLI
