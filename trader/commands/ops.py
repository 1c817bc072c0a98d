"""Shared plumbing of the operator commands, and the monitoring commands the guide's scripts call.

`trader ops health`, `trader ops performance --period N`, `trader ops capacity` and
`trader ops system-info` back scripts/monitoring and scripts/diagnostics.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from trader.settings import Settings, SettingsError, load_settings

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

EnvironmentOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help="development, staging, production or test (default: $ENVIRONMENT)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


def settings_for(environment: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(environment, **overrides)
    except SettingsError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


app = typer.Typer(help="Monitoring and diagnostics (behind scripts/monitoring and scripts/diagnostics).")
