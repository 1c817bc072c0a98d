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


def _engine(settings: Settings) -> Any:
    from trader.adapters.db.engine import create_engine

    return create_engine(settings.effective_database_url, pool_size=1)


@app.command("database-status")
def database_status(environment: EnvironmentOption = None) -> None:
    """Is the database reachable (the pg_isready of the guide, for both back ends)? Exit 1 if not."""
    import asyncio

    from trader.adapters.db.engine import DatabaseUnavailableError, ping, redacted

    settings = settings_for(environment)

    async def check() -> float:
        engine = _engine(settings)
        try:
            return await ping(engine)
        finally:
            await engine.dispose()

    try:
        elapsed = asyncio.run(check())
    except DatabaseUnavailableError as error:
        raise fail(str(error)) from None
    console.print(f"{redacted(settings.effective_database_url)} - accepting connections ({elapsed:.1f} ms)")


@app.command("critical-events")
def critical_events(
    hours: Annotated[int, typer.Option(min=1, help="look back this many hours")] = 24,
    environment: EnvironmentOption = None,
) -> None:
    """The audit log's critical events (emergency shutdowns, ...), newest first."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from trader.adapters.db.tables import audit_logs

    settings = settings_for(environment)
    since = datetime.now(UTC) - timedelta(hours=hours)

    async def load() -> list[Any]:
        engine = _engine(settings)
        try:
            async with engine.connect() as connection:
                query = (
                    select(
                        audit_logs.c.timestamp,
                        audit_logs.c.service_name,
                        audit_logs.c.action,
                        audit_logs.c.error_message,
                    )
                    .where(audit_logs.c.severity == "critical", audit_logs.c.timestamp > since)
                    .order_by(audit_logs.c.timestamp.desc())
                    .limit(10)
                )
                return list((await connection.execute(query)).all())
        finally:
            await engine.dispose()

    try:
        rows = asyncio.run(load())
    except Exception as error:  # the operator needs the reason, not a traceback
        raise fail(f"cannot read audit_logs: {type(error).__name__}: {error}") from None
    if not rows:
        console.print(f"no critical events in the last {hours} h")
    for timestamp, service, action, message in rows:
        console.print(
            f"{timestamp.isoformat(timespec='seconds')}  {service}  {action}  {message or ''}", markup=False
        )
