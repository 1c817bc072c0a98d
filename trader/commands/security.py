"""Security operations: key rotation, a configuration audit, and a review of access from the audit log."""

from __future__ import annotations

import typer

app = typer.Typer(help="Key rotation, security audit and access review.", no_args_is_help=True)
