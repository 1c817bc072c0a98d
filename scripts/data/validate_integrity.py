#!/usr/bin/env python3
"""Check the stored data: duplicates, OHLC outliers, gaps, orphaned orders/fills, positions vs fills.

    python scripts/data/validate_integrity.py               every check except calendar gaps
    python scripts/data/validate_integrity.py --full-check  every check, gaps against the NYSE calendar
    python scripts/data/validate_integrity.py --detailed    list the offending rows
    python scripts/data/validate_integrity.py --full        --full-check and --detailed

Prints a readable report and exits 1 when anything is wrong (2 on bad usage). A thin wrapper
over `trader integrity check`; it runs the project's .venv/bin/trader from any Python.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from trader_cli import hand_over

if __name__ == "__main__":
    hand_over(__doc__, "integrity", "check")
