#!/usr/bin/env python3
"""Check the security configuration (secret lengths, CORS, loopback exception, env file
permissions) and failed logins in the last 24 h; exit 1 on a problem.

    python scripts/security/security_audit.py [--env ENVIRONMENT]

A thin wrapper over `trader security audit`; it runs the project's .venv/bin/trader from any Python.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from trader_cli import hand_over

if __name__ == "__main__":
    hand_over(__doc__, "security", "audit")
