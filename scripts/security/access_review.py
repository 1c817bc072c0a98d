#!/usr/bin/env python3
"""Review access from the audit log: who authenticated from where, failed attempts by
address, changes by user, refused requests.

    python scripts/security/access_review.py --days 30 [--env ENVIRONMENT]

A thin wrapper over `trader security access-review`; it runs the project's .venv/bin/trader from any Python.
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
    os.execv(command, [command, *["security", "access-review"], *sys.argv[1:]])  # noqa: S606 - our own CLI
