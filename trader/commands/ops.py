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


def _parse_moment(value: str) -> Any:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@app.command("performance")
def performance(
    period: Annotated[int, typer.Option("--period", min=1, help="days covered by the report")] = 30,
    end: Annotated[
        str | None,
        typer.Option(
            help="ISO date-time the period ends at (default: the books' latest snapshot or fill; "
            "on the replay clock that is the simulated now)"
        ),
    ] = None,
    html_path: Annotated[
        str | None, typer.Option("--html", help="also write the HTML report (equity, drawdown charts) here")
    ] = None,
    environment: EnvironmentOption = None,
) -> None:
    """Performance over the last N days from the books: equity curve, returns, drawdown, Sharpe,
    realised P&L, win rate and a per-strategy breakdown. Exit 1 if the books cannot be read."""
    import asyncio
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal
    from pathlib import Path

    from sqlalchemy import func, select

    from trader.adapters.db.engine import DatabaseUnavailableError, ping
    from trader.adapters.db.tables import account_snapshots, fills, trades
    from trader.core.tax_lots import match_lots
    from trader.reports.performance import (
        build_performance_report,
        metric_figures,
        render_performance_html,
        render_performance_text,
        trading_activity,
        with_figures,
    )
    from trader.services.export_service.handlers import buy_and_hold_curve, load_executions, traded_symbols

    settings = settings_for(environment)
    requested_end = _parse_moment(end) if end else None

    async def build() -> tuple[str, str]:
        engine = _engine(settings)
        try:
            await ping(engine)
            async with engine.connect() as connection:
                if requested_end is not None:
                    finish = requested_end
                else:
                    latest = [
                        (await connection.execute(select(func.max(table.c.timestamp)))).scalar()
                        for table in (account_snapshots, fills)
                    ]
                    known = [moment for moment in latest if moment is not None]
                    # Exclusive end just past the newest booking, so that booking is inside the period.
                    finish = max(known) + timedelta(microseconds=1) if known else datetime.now(UTC)
                begin = finish - timedelta(days=period)
                equity = [
                    (row[0], row[1])
                    for row in await connection.execute(
                        select(account_snapshots.c.timestamp, account_snapshots.c.equity)
                        .where(account_snapshots.c.timestamp >= begin, account_snapshots.c.timestamp < finish)
                        .order_by(account_snapshots.c.timestamp, account_snapshots.c.id)
                    )
                ]
                statuses = [
                    row[0]
                    for row in await connection.execute(
                        select(trades.c.status).where(
                            trades.c.timestamp >= begin, trades.c.timestamp < finish
                        )
                    )
                ]
            executions = await load_executions(engine, end=finish, symbols=[], by_strategy=True)
            traded = traded_symbols(executions, begin)
            held = await buy_and_hold_curve(
                engine,
                traded,
                start=begin,
                end=finish,
                initial_equity=equity[0][1] if equity else Decimal(0),
                fill_model=settings.fill_model(),
            )
        finally:
            await engine.dispose()
        lots = [lot for lot in match_lots(executions).realised if begin <= lot.closed_at < finish]
        in_period = [execution for execution in executions if execution.executed_at >= begin]
        report = build_performance_report(
            equity,
            lots,
            title=f"Performance report, last {period} days",
            start=begin,
            end=finish,
            buy_and_hold=held,
            buy_and_hold_symbols=traded,
        )
        report = with_figures(report, metric_figures(equity, lots, trade_count=len(in_period)))
        generated_at = datetime.now(UTC)
        activity = trading_activity(statuses, in_period)
        text = render_performance_text(report, activity, generated_at=generated_at)
        return text, render_performance_html(report, generated_at=generated_at)

    try:
        text, page = asyncio.run(build())
    except DatabaseUnavailableError as error:
        raise fail(str(error)) from None
    except Exception as error:  # the operator needs the reason, not a traceback
        reason = str(error).splitlines()[0] if str(error) else ""
        raise fail(f"cannot build the performance report: {type(error).__name__}: {reason}") from None
    console.print(text, markup=False, highlight=False, end="")
    if html_path:
        target = Path(html_path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(page, encoding="utf-8")
        except OSError as error:
            raise fail(f"cannot write {target}: {error}") from None
        console.print(f"HTML report written to {target}", markup=False)


# ---------------------------------------------------------------------------------------------
# Capacity planning

# The column that says when a row arrived: the ingestion time where a table keeps one, else the
# time of the event it records (on the replay clock that is simulated time, and the report says so).
_ARRIVAL_COLUMNS = ("created_at", "timestamp", "started_at", "added_at", "updated_at")
GROWTH_WINDOW_DAYS = 7


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _tree_size(path: Any) -> tuple[int, int]:
    """(bytes, files) under a directory; files that vanish while walking are skipped."""
    total = files = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
                files += 1
        except OSError:
            continue
    return total, files


def _existing_ancestor(path: Any) -> Any:
    current = path.resolve()
    while not current.exists():
        current = current.parent
    return current


def _mount_point(path: Any) -> Any:
    import os

    device = os.stat(path).st_dev
    while path.parent != path and os.stat(path.parent).st_dev == device:
        path = path.parent
    return path


async def _table_capacity(engine: Any) -> list[dict[str, Any]]:
    from datetime import timedelta

    from sqlalchemy import func, select, text

    from trader.adapters.db.tables import metadata

    postgres = engine.url.get_backend_name().startswith("postgresql")
    rows: list[dict[str, Any]] = []
    async with engine.connect() as connection:
        if postgres:
            sizes = {
                name: int(size)
                for name, size in await connection.execute(
                    text(
                        "SELECT tablename, pg_total_relation_size(quote_ident(schemaname)||'.'||"
                        "quote_ident(tablename)) FROM pg_tables WHERE schemaname = 'public'"
                    )
                )
            }
        else:
            # dbstat counts each table's pages and its indexes' pages separately.
            pages = await connection.execute(
                text(
                    "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) FROM dbstat s "
                    "LEFT JOIN sqlite_master m ON m.name = s.name GROUP BY 1"
                )
            )
            sizes = {name: int(size) for name, size in pages}
        for table in metadata.sorted_tables:
            if table.name not in sizes:
                continue
            count = int((await connection.execute(select(func.count()).select_from(table))).scalar() or 0)
            entry: dict[str, Any] = {"table": table.name, "rows": count, "bytes": sizes[table.name]}
            column = next((table.c[name] for name in _ARRIVAL_COLUMNS if name in table.c), None)
            if column is not None and count:
                newest = (await connection.execute(select(func.max(column)))).scalar()
                since = newest - timedelta(days=GROWTH_WINDOW_DAYS)
                recent, oldest = (
                    await connection.execute(select(func.count(), func.min(column)).where(column > since))
                ).one()
                # Spread the recent rows over the span they really cover, at least a day, so a table
                # filled in its first hour does not project a day's worth of hours.
                span_days = max((newest - oldest).total_seconds() / 86_400, 1.0)
                rows_per_day = recent / span_days
                entry.update(
                    growth_column=column.name,
                    newest=newest.isoformat(timespec="seconds"),
                    rows_per_day=rows_per_day,
                    bytes_per_day=rows_per_day * sizes[table.name] / count,
                )
            rows.append(entry)
    return sorted(rows, key=lambda entry: entry["bytes"], reverse=True)


async def _redis_memory(url: str) -> dict[str, Any]:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
    try:
        memory = await client.info("memory")
        keyspace = await client.info("keyspace")
    finally:
        await client.aclose()
    return {
        "used_memory": int(memory["used_memory"]),
        "used_memory_human": memory.get("used_memory_human"),
        "peak_memory_human": memory.get("used_memory_peak_human"),
        "maxmemory": int(memory.get("maxmemory", 0)),
        "maxmemory_policy": memory.get("maxmemory_policy"),
        "keys": {name: info.get("keys", 0) for name, info in keyspace.items()},
    }


def _log_volume(log_dir: Any) -> dict[str, Any]:
    """Size of logs/*.log* and bytes per day since the oldest first line (our lines start with a date)."""
    from datetime import UTC, datetime

    files = sorted(path for path in log_dir.glob("*.log*") if path.is_file()) if log_dir.exists() else []
    total = sum(path.stat().st_size for path in files)
    oldest: datetime | None = None
    for path in files:
        with path.open("rb") as handle:
            first = handle.readline()[:23].decode("ascii", "replace")
        try:
            moment = datetime.strptime(first, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
        except ValueError:
            continue
        oldest = moment if oldest is None or moment < oldest else oldest
    result: dict[str, Any] = {
        "directory": str(log_dir),
        "files": len(files),
        "bytes": total,
        "largest": [
            (path.name, path.stat().st_size) for path in sorted(files, key=lambda p: -p.stat().st_size)
        ][:5],
    }
    if oldest is not None:
        span_days = max((datetime.now(UTC) - oldest).total_seconds() / 86_400, 1.0)
        result.update(since=oldest.isoformat(timespec="seconds"), bytes_per_day=total / span_days)
    return result


@app.command("capacity")
def capacity(environment: EnvironmentOption = None, as_json: JsonOption = False) -> None:
    """Capacity planning: table sizes and growth, disk free under data/logs/backups, Redis memory,
    log volume, and the days until each disk fills at the observed growth. Exit 1 on failure."""
    import asyncio
    import json
    import os
    import shutil
    from datetime import UTC, datetime

    from trader.adapters.db.engine import DatabaseUnavailableError, ping, redacted

    settings = settings_for(environment)

    async def database() -> list[dict[str, Any]]:
        engine = _engine(settings)
        try:
            await ping(engine)
            return await _table_capacity(engine)
        finally:
            await engine.dispose()

    try:
        tables = asyncio.run(database())
    except DatabaseUnavailableError as error:
        raise fail(str(error)) from None
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else ""
        raise fail(f"cannot measure the database: {type(error).__name__}: {reason}") from None
    redis: dict[str, Any] | None = None
    if settings.redis_url:
        try:
            redis = asyncio.run(_redis_memory(settings.redis_url))
        except Exception as error:
            raise fail(
                f"Redis at {redacted(settings.redis_url)} unavailable: {type(error).__name__}: {error}"
            ) from None
    logs = _log_volume(settings.log_dir)

    directories = {"data": settings.data_dir, "logs": settings.log_dir, "backups": settings.backup_dir}
    disks: dict[int, dict[str, Any]] = {}
    usage: dict[str, dict[str, Any]] = {}
    for role, directory in directories.items():
        anchor = _existing_ancestor(directory)
        size, count = _tree_size(directory) if directory.exists() else (0, 0)
        device = os.stat(anchor).st_dev
        total, used, free = shutil.disk_usage(anchor)
        disk = disks.setdefault(
            device,
            {
                "mount": str(_mount_point(anchor)),
                "total": total,
                "used": used,
                "free": free,
                "roles": [],
                "bytes_per_day": 0.0,
            },
        )
        disk["roles"].append(role)
        usage[role] = {
            "path": str(directory.resolve()),
            "exists": directory.exists(),
            "bytes": size,
            "files": count,
        }

    database_growth = sum(entry.get("bytes_per_day", 0.0) for entry in tables)
    growth_by_role = {"logs": logs.get("bytes_per_day", 0.0)}
    if settings.uses_embedded_database:
        growth_by_role["data"] = database_growth
    for role, directory in directories.items():
        device = os.stat(_existing_ancestor(directory)).st_dev
        disks[device]["bytes_per_day"] += growth_by_role.get(role, 0.0)
    for disk in disks.values():
        disk["days_until_full"] = disk["free"] / disk["bytes_per_day"] if disk["bytes_per_day"] > 0 else None

    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": {
            "url": redacted(settings.effective_database_url),
            "bytes": sum(entry["bytes"] for entry in tables),
            "bytes_per_day": database_growth,
            "tables": tables,
        },
        "directories": usage,
        "disks": list(disks.values()),
        "redis": redis or {"status": "not_configured"},
        "logs": logs,
    }
    if as_json:
        console.print_json(json.dumps(report, default=str))
        return
    _print_capacity(report, postgres=not settings.uses_embedded_database)


def _print_capacity(report: dict[str, Any], *, postgres: bool) -> None:
    def say(line: str = "") -> None:
        console.print(line, markup=False, highlight=False)

    database = report["database"]
    say(f"Capacity analysis ({report['generated_at']})")
    say()
    say(
        f"Database {database['url']}: {_human(database['bytes'])}, "
        f"growing {_human(database['bytes_per_day'])}/day"
    )
    say(f"  {'table':<20}{'rows':>12}{'size':>12}{'rows/day':>12}{'bytes/day':>12}  growth measured on")
    for entry in database["tables"]:
        growth = (
            f"{entry['rows_per_day']:>12,.0f}{_human(entry['bytes_per_day']):>12}  "
            f"{entry['growth_column']} (newest {entry['newest']})"
            if "rows_per_day" in entry
            else f"{'-':>12}{'-':>12}"
        )
        say(f"  {entry['table']:<20}{entry['rows']:>12,}{_human(entry['bytes']):>12}{growth}")
    say(
        f"  (rows/day: rows in the {GROWTH_WINDOW_DAYS} days before each table's newest row, over the span "
        "they cover, at least one day)"
    )
    say()
    say("Directories")
    for role, entry in report["directories"].items():
        state = (
            f"{_human(entry['bytes'])} in {entry['files']} files" if entry["exists"] else "does not exist yet"
        )
        say(f"  {role:<8}{entry['path']}: {state}")
    say()
    logs = report["logs"]
    rate = f", {_human(logs['bytes_per_day'])}/day since {logs['since']}" if "bytes_per_day" in logs else ""
    say(f"Logs: {logs['files']} files, {_human(logs['bytes'])}{rate}")
    for name, size in logs["largest"]:
        say(f"  {name:<32}{_human(size):>12}")
    say()
    redis = report["redis"]
    if "used_memory" in redis:
        limit = _human(redis["maxmemory"]) if redis["maxmemory"] else "no maxmemory limit"
        keys = ", ".join(f"{name}: {count} keys" for name, count in redis["keys"].items()) or "no keys"
        say(
            f"Redis: {redis['used_memory_human']} used (peak {redis['peak_memory_human']}), {limit}, "
            f"policy {redis['maxmemory_policy']}; {keys}"
        )
    else:
        say("Redis: not configured (embedded default: in-process bus, cache and rate limits)")
    say()
    say("Disk projection")
    for disk in report["disks"]:
        fill = (
            f"full in {disk['days_until_full']:,.0f} days at {_human(disk['bytes_per_day'])}/day"
            if disk["days_until_full"] is not None
            else "no measured growth"
        )
        say(
            f"  {disk['mount']} ({', '.join(disk['roles'])}): {_human(disk['free'])} free of "
            f"{_human(disk['total'])} ({disk['used'] / disk['total']:.0%} used); {fill}"
        )
    if postgres:
        say(
            "  The PostgreSQL server's own disk is not visible from here: its growth "
            f"({_human(database['bytes_per_day'])}/day) is not counted above."
        )
