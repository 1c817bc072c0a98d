#!/usr/bin/env python3
"""Check the stored data: duplicates, OHLC outliers, gaps, orphaned orders/fills, positions vs fills.

    python scripts/data/validate_integrity.py               every check except calendar gaps
    python scripts/data/validate_integrity.py --full-check  every check, gaps against the NYSE calendar
    python scripts/data/validate_integrity.py --detailed    list the offending rows
    python scripts/data/validate_integrity.py --full        --full-check and --detailed

Prints a readable report and exits 1 when anything is wrong (2 on bad usage). A thin wrapper
over `trader integrity check`; it runs the project's .venv/bin/trader from any Python.
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
    os.execv(command, [command, "integrity", "check", *sys.argv[1:]])  # noqa: S606 - our own CLI
