"""`trader integrity check` (validate_integrity.py) and `trader integrity cleanup` (cleanup_old_data.py)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.engine import create_engine, redacted
from trader.adapters.integrity import IntegrityReport, SessionsBetween, run_integrity_checks
from trader.adapters.retention import RETAINED_TABLES, CleanupResult, clean_old_rows
from trader.commands.ops import EnvironmentOption, JsonOption, console, errors, fail, settings_for
from trader.services.common.logs import configure_logging
from trader.settings import MarketDataSource, Settings

app = typer.Typer(help="Data integrity checks and retention clean-up.", no_args_is_help=True)


def _calendar_sessions() -> SessionsBetween:
    from trader.adapters.calendar import XNYSCalendar

    calendar = XNYSCalendar()

    def sessions_between(start: date, end: date) -> list:  # type: ignore[type-arg]
        return list(calendar.sessions_between(start, end))

    return sessions_between


async def _check(settings: Settings, *, gaps: bool, example_limit: int) -> IntegrityReport:
    url = settings.effective_database_url
    engine = create_engine(url, pool_size=2)
    try:
        return await run_integrity_checks(
            engine,
            database=redacted(url),
            now=datetime.now(UTC),
            sessions_between=_calendar_sessions() if gaps else None,
            example_limit=example_limit,
        )
    finally:
        await engine.dispose()


@app.command("check")
def check(
    full_check: Annotated[
        bool, typer.Option("--full-check", help="every check, including gaps against the NYSE calendar")
    ] = False,
    detailed: Annotated[bool, typer.Option("--detailed", help="list the offending rows")] = False,
    full: Annotated[bool, typer.Option("--full", help="--full-check and --detailed together")] = False,
    examples: Annotated[int, typer.Option(help="rows listed per problem with --detailed")] = 10,
    as_json: JsonOption = False,
    environment: EnvironmentOption = None,
) -> None:
    """Duplicates, OHLC outliers, gaps, orphaned orders/fills, positions vs fills; exit 1 on any problem."""
    settings = settings_for(environment)
    try:
        report = asyncio.run(_check(settings, gaps=full_check or full, example_limit=examples))
    except Exception as error:  # the operator needs the reason, not a traceback
        raise fail(f"integrity check could not run: {type(error).__name__}: {error}") from None
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        console.print(report.render(detailed=detailed or full), highlight=False, markup=False)
    if not report.ok:
        raise typer.Exit(1)


async def system_now(settings: Settings, engine: AsyncEngine) -> tuple[datetime, str]:
    """The system's own now: on the replay clock its simulated time (where a running system is, or
    where a stopped one stopped), else the wall clock. Days of retention are days of that clock."""
    from trader.runtime.replay_clock import saved_anchor

    wall = datetime.now(UTC)
    if settings.market_data_source is not MarketDataSource.REPLAY:
        return wall, "wall clock"
    anchor = await saved_anchor(engine)
    if anchor is None:
        return wall, "wall clock (the replay clock has not run yet)"
    running = anchor.alive(time.time(), besides="")
    return (anchor.position_at(time.time()) if running else anchor.at), "replay clock"


async def _clean(
    settings: Settings, days: int, tables: list[str], dry_run: bool
) -> tuple[datetime, str, list[CleanupResult]]:
    from trader.services.common.timeframes import base_timeframe
    from trader.services.scheduler.retention import bars_to_keep

    engine = create_engine(settings.effective_database_url, pool_size=2)
    try:
        now, clock = await system_now(settings, engine)
        cutoff = now - timedelta(days=days)
        keep = (
            await bars_to_keep(engine, settings, base_timeframe(settings))
            if "market_data" in tables
            else None
        )
        results = await clean_old_rows(engine, cutoff=cutoff, tables=tables, dry_run=dry_run, keep=keep)
        return cutoff, clock, results
    finally:
        await engine.dispose()


@app.command("cleanup")
def cleanup(
    days: Annotated[int, typer.Option("--days", min=1, help="delete rows older than this many days")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would go, delete nothing")] = False,
    tables: Annotated[
        str, typer.Option(help="comma-separated tables to clean (orders, fills, positions never are)")
    ] = ",".join(RETAINED_TABLES),
    environment: EnvironmentOption = None,
) -> None:
    """Delete old audit logs, job runs, snapshots, export records, unreferenced signals/decisions, and
    bars no enabled strategy or model needs (it says which bars it kept, and why)."""
    settings = settings_for(environment)
    chosen = [name.strip() for name in tables.split(",") if name.strip()]
    # What was kept and why goes to logs/trader.log too, beside the services' own logs.
    configure_logging(settings.log_dir, [], settings.log_level, console=False)
    try:
        cutoff, clock, results = asyncio.run(_clean(settings, days, chosen, dry_run))
    except ValueError as error:
        raise fail(str(error), 2) from None
    except Exception as error:
        raise fail(f"clean-up failed: {type(error).__name__}: {error}") from None
    verb = "would delete" if dry_run else "deleted"
    console.print(f"Rows older than {days} days (before {cutoff.isoformat(timespec='seconds')}, {clock}):")
    for result in results:
        console.print(f"  {result.table:<18} {verb} {result.rows}")
    kept = [item for result in results for item in result.kept]
    if kept:
        console.print(
            f"Bars older than that {'would be' if dry_run else 'were'} kept, because the enabled strategies "
            "and the models need them:",
            highlight=False,
        )
        for item in kept:
            console.print(f"  {item.describe()}", highlight=False, markup=False)
    total = sum(result.rows for result in results)
    console.print(f"{'DRY RUN: ' if dry_run else ''}{verb} {total} row(s) in total")
    if total and not dry_run:
        errors.print("hint: run VACUUM ANALYZE (PostgreSQL) to hand the space back")
