"""What every Python operator script does: show its own help, or hand over to `trader ...`.

The scripts are thin by design; the work lives in the `trader` CLI. This finds the project's
.venv/bin/trader (or $TRADER_BIN, or one on PATH) and replaces the script's process with it.
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


def hand_over(usage: str | None, *subcommand: str) -> None:
    """`--help` prints the script's own usage; anything else runs `trader <subcommand> <args>`."""
    if any(argument in ("-h", "--help") for argument in sys.argv[1:]):
        sys.stdout.write(usage or "")
        sys.exit(0)
    os.chdir(REPOSITORY)
    command = trader_command()
    os.execv(command, [command, *subcommand, *sys.argv[1:]])  # noqa: S606 - our own CLI
