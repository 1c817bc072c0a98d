#!/usr/bin/env python3
"""Review access from the audit log: who authenticated from where, failed attempts by
address, changes by user, refused requests.

    python scripts/security/access_review.py --days 30 [--env ENVIRONMENT]

A thin wrapper over `trader security access-review`; it runs the project's .venv/bin/trader from any Python.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from trader_cli import hand_over

if __name__ == "__main__":
    hand_over(__doc__, "security", "access-review")
