"""`trader`: run the system and operate it."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from trader.commands import backtest as backtest_commands
from trader.commands import backup as backup_commands
from trader.commands import data as data_commands
from trader.commands import integrity as integrity_commands
from trader.commands import model as model_commands
from trader.commands import ops as ops_commands
from trader.commands import risk as risk_commands
from trader.commands import security as security_commands
from trader.commands import strategy as strategy_commands
from trader.settings import SERVICE_NAMES, Settings, SettingsError, load_settings

app = typer.Typer(help="full-ai-trader: AI-assisted trading for US equities.", no_args_is_help=True)
db_app = typer.Typer(help="Database set-up.", no_args_is_help=True)
app.add_typer(db_app, name="db")
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(backup_commands.app, name="backup")
app.add_typer(backup_commands.restore_app, name="restore")
app.add_typer(integrity_commands.app, name="integrity")
app.add_typer(security_commands.app, name="security")
app.add_typer(data_commands.app, name="data")
app.add_typer(ops_commands.app, name="ops")
app.command("backtest")(backtest_commands.backtest)
app.command("optimize")(backtest_commands.optimize)
app.add_typer(strategy_commands.app, name="strategy")
app.add_typer(risk_commands.app, name="risk")
app.add_typer(model_commands.app, name="model")
console = Console()
errors = Console(stderr=True)

EnvironmentOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help="development, staging, production or test (default: $ENVIRONMENT)"),
]


def _settings(environment: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(environment, **overrides)
    except SettingsError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


def _run_services(settings: Settings, services: tuple[str, ...]) -> None:
    from trader.runtime.supervisor import PortUnavailableError, run_services

    def ready() -> None:
        errors.print(
            f"[green]ready[/green]: {len(services)} service(s) on {settings.host}; Ctrl+C stops them"
        )

    try:
        asyncio.run(run_services(settings, services, on_ready=ready))
    except PortUnavailableError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None


@app.command()
def up(environment: EnvironmentOption = None) -> None:
    """Run all seven services in one process (the embedded default needs no set-up)."""
    _run_services(_settings(environment), SERVICE_NAMES)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"one of: {', '.join(SERVICE_NAMES)}")],
    environment: EnvironmentOption = None,
) -> None:
    """Run one service (one process or container per service)."""
    if service not in SERVICE_NAMES:
        errors.print(
            f"[red]error:[/red] unknown service {service!r}; choose one of {', '.join(SERVICE_NAMES)}"
        )
        raise typer.Exit(2)
    _run_services(_settings(environment), (service,))


@app.command()
def status(
    url: Annotated[str | None, typer.Option(help="maintenance service URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON")] = False,
    environment: EnvironmentOption = None,
) -> None:
    """Show the whole system's status (the maintenance service's /status)."""
    target = url or _settings(environment).url_of("maintenance_service")
    try:
        response = httpx.get(f"{target.rstrip('/')}/status", timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as error:
        errors.print(f"[red]error:[/red] cannot read {target}/status: {error}")
        raise typer.Exit(1) from None
    payload = response.json()
    if as_json:
        console.print_json(json.dumps(payload))
        return
    colours = {"healthy": "green", "up": "green", "degraded": "yellow", "not_configured": "dim"}
    table = Table(title=f"System status: {payload['status']}  ({payload['checked_at']})")
    table.add_column("component")
    table.add_column("status")
    table.add_column("response ms", justify="right")
    table.add_column("detail")
    rows = [(name, info) for name, info in payload["services"].items()]
    rows += [("database", payload["database"]), ("redis", payload["redis"])]
    for name, info in rows:
        colour = colours.get(info["status"], "red")
        detail = info.get("error") or info.get("detail") or info.get("url", "")
        elapsed = info.get("response_time_ms")
        table.add_row(
            name,
            f"[{colour}]{info['status']}[/{colour}]",
            "" if elapsed is None else f"{elapsed:.1f}",
            detail,
        )
    console.print(table)
    _print_market_data(_settings(environment).url_of("data_collector"))
    if payload["status"] != "healthy":
        raise typer.Exit(1)


def _print_market_data(collector_url: str) -> None:
    """Each bar stream's state and why, its last message, and the last bar's age per timeframe."""
    try:
        response = httpx.get(f"{collector_url.rstrip('/')}/data/sources/status", timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as error:
        errors.print(f"[yellow]market data status unavailable from {collector_url}: {error}[/yellow]")
        return
    sources = response.json()
    streams = Table(title="Market data streams")
    for column in ("stream", "feed", "state", "since", "last message", "reason"):
        streams.add_column(column)
    for stream in sources.get("streams", []):
        colour = "green" if stream["state"] == "streaming" else "red"
        streams.add_row(
            stream["name"],
            stream["feed"],
            f"[{colour}]{stream['state']}[/{colour}]",
            stream["state_since"] or "",
            stream["last_message_at"] or "never",
            stream["reason"],
        )
    if not sources.get("streams"):
        streams.add_row("none", "", "", "", "", f"bars are polled from {sources.get('active_provider')}")
    console.print(streams)
    publishing = sources.get("publishing") or {}
    ages = Table(title="Bars announced (per timeframe)")
    for column in ("timeframe", "last bar", "age s", "announced", "history", "corrections"):
        ages.add_column(column, justify="right" if column not in ("timeframe", "last bar") else "left")
    for timeframe, figures in publishing.items():
        age = figures["last_bar_age_seconds"]
        ages.add_row(
            timeframe,
            figures["last_bar_at"] or "none yet",
            "" if age is None else f"{age:,.0f}",
            str(figures["published"]),
            str(figures["history"]),
            str(figures["corrections"]),
        )
    if publishing:
        console.print(ages)


@app.command()
def migrate(
    environment: Annotated[
        str | None, typer.Argument(help="environment whose settings name the database")
    ] = None,
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Bring the database schema up to date (SQLite or PostgreSQL)."""
    from trader.adapters.db.engine import redacted
    from trader.adapters.db.migrate import current_revision, upgrade_database

    settings = _settings(environment)
    url = settings.effective_database_url
    try:
        upgrade_database(url, revision)
        errors.print(f"[green]migrated[/green] {redacted(url)} to {current_revision(url)}")
    except Exception as error:  # the operator needs the reason, not a traceback
        errors.print(f"[red]migration failed[/red] for {redacted(url)}: {type(error).__name__}: {error}")
        raise typer.Exit(1) from None


@db_app.command("provision")
def provision(
    admin_url: Annotated[
        str, typer.Option(envvar="POSTGRES_ADMIN_URL", help="superuser URL used only for this step")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    database: Annotated[str, typer.Option(help="database to create")] = "trading_system",
    role: Annotated[str, typer.Option(help="role that owns it")] = "trader",
    password_env: Annotated[
        str, typer.Option(help="name of the environment variable holding the role's password, if any")
    ] = "TRADER_DB_PASSWORD",  # noqa: S107 - the name of a variable, not a password
) -> None:
    """Create the `trader` role and `trading_system` database on PostgreSQL (idempotent)."""
    import os

    from trader.adapters.db.provision import ProvisioningError, provision_database

    try:
        result = asyncio.run(
            provision_database(
                admin_url, database=database, role=role, password=os.environ.get(password_env) or None
            )
        )
    except ProvisioningError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    errors.print(
        f"role {role}: {'created' if result.role_created else 'exists'}; "
        f"database {database}: {'created' if result.database_created else 'exists'}"
    )


@token_app.command("issue")
def issue(
    subject: Annotated[str, typer.Option(help="who the token is for (the audit log's user_id)")],
    scope: Annotated[str, typer.Option(help="read, trade or admin (each includes the lower ones)")] = "read",
    hours: Annotated[float, typer.Option(help="lifetime in hours (at most 720)")] = 24.0,
    environment: EnvironmentOption = None,
) -> None:
    """Print a JWT signed with API_SECRET_KEY, for `Authorization: Bearer <token>`."""
    from trader.services.common.security import issue_token

    settings = _settings(environment)
    if settings.api_secret_key is None:
        errors.print("[red]error:[/red] API_SECRET_KEY is not set, so no token can be signed")
        raise typer.Exit(2)
    try:
        token = issue_token(settings.api_secret_key.get_secret_value(), subject, scope, int(hours * 3600))
    except ValueError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    print(token)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
