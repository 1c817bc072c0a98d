"""`trader data backfill|import|status`: the data collector's work from the command line.

Runs in process against the configured database and providers (the service need not be up);
the same validation, storage and counting as `POST /data/collect`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trader.commands.ops import EnvironmentOption, JsonOption, console, errors, fail, settings_for
from trader.services.data_collector.handlers import DataCollector, IngestReport
from trader.settings import Settings

app = typer.Typer(help="Market data: backfill, import files, show what is stored.", no_args_is_help=True)
T = TypeVar("T")
IMPORT_CHUNK = 20_000


def _run(settings: Settings, work: Callable[[DataCollector], Awaitable[T]]) -> T:
    from trader.runtime.bootstrap import open_resources, prepare_schema
    from trader.services.data_collector.app import ProviderConfigurationError, build_collector

    async def main() -> T:
        await prepare_schema(settings)
        async with open_resources(settings) as resources:
            try:
                collector, _source = build_collector(resources)
            except ProviderConfigurationError as error:
                raise fail(str(error), 2) from None
            collector.announces = False  # the running data collector announces what is stored
            await collector.ensure_watchlist()
            return await work(collector)

    return asyncio.run(main())


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    )


def _print_report(report: IngestReport, as_json: bool, extra: dict[str, Any]) -> None:
    body = {**extra, **report.as_dict()}
    if as_json:
        console.print_json(json.dumps(body))
        return
    console.print(
        f"fetched {report.fetched}, stored {report.stored} "
        f"(inserted {report.inserted}, updated {report.updated}), "
        f"duplicate {report.duplicate}, rejected {report.rejected}"
        + (f" {dict(report.rejected_by_reason)}" if report.rejected else "")
    )
    for symbol, message in extra.get("errors", {}).items():
        errors.print(f"[yellow]{symbol}[/yellow]: {message}")


@app.command()
def backfill(
    symbols: Annotated[str | None, typer.Option(help="comma-separated (default: the watchlist)")] = None,
    start: Annotated[str | None, typer.Option(help="ISO date/time (default: DATA_BACKFILL_DAYS ago)")] = None,
    end: Annotated[str | None, typer.Option(help="ISO date/time (default: now)")] = None,
    force: Annotated[bool, typer.Option(help="re-fetch ranges already stored")] = False,
    as_json: JsonOption = False,
    environment: EnvironmentOption = None,
) -> None:
    """Fetch bars from the configured providers (or the sample data) and store what validates."""
    from trader.services.data_collector.schemas import parse_moment, parse_symbols

    try:
        chosen = parse_symbols(symbols.split(",")) if symbols else None
        start_at, end_at = parse_moment(start, "start"), parse_moment(end, "end")
    except ValueError as error:
        raise fail(str(error), 2) from None

    async def work(collector: DataCollector) -> tuple[IngestReport, dict[str, str], dict[str, Any]]:
        names = chosen or await collector.watchlist.symbols()
        default_start, default_end = collector.default_window()
        first, last = start_at or default_start, end_at or default_end
        if first >= last:
            raise fail(f"start {first.isoformat()} must be before end {last.isoformat()}", 2)
        with _progress() as progress:
            task = progress.add_task("backfill", total=len(names))

            def advance(symbol: str, _report: IngestReport | None, _error: str | None) -> None:
                progress.update(task, advance=1, description=f"backfill {symbol}")

            report, _per_symbol, failures = await collector.backfill(
                names, first, last, force=force, on_symbol=advance
            )
        window = {"symbols": names, "start": first.isoformat(), "end": last.isoformat()}
        return report, failures, window

    report, failures, window = _run(settings_for(environment), work)
    _print_report(report, as_json, {**window, "errors": failures})
    if failures and len(failures) == len(window["symbols"]):
        raise typer.Exit(1)


@app.command("import")
def import_file(
    path: Annotated[
        Path, typer.Argument(help=".csv or .parquet with symbol,timestamp,open,high,low,close,volume")
    ],
    timeframe: Annotated[
        str | None, typer.Option(help="bar length in the file (default: the base timeframe)")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="time zone of naive timestamps, e.g. America/New_York")
    ] = None,
    as_json: JsonOption = False,
    environment: EnvironmentOption = None,
) -> None:
    """Import your own bar file: every row validated, rejected rows counted with their reason."""
    from trader.adapters.replay.importer import BarFileError, read_bar_file
    from trader.core.market import Timeframe
    from trader.core.ports import FetchedBars

    async def work(collector: DataCollector) -> IngestReport:
        chosen = Timeframe.parse(timeframe) if timeframe else collector.base_timeframe
        base = collector.base_timeframe.value
        if chosen != collector.base_timeframe:
            raise fail(f"market_data holds {base} bars; import a {base} file or set DATA_BASE_TIMEFRAME", 2)
        try:
            candidates = await asyncio.to_thread(
                read_bar_file, path, chosen, collector.calendar, assume_timezone=timezone
            )
        except BarFileError as error:
            raise fail(str(error), 2) from None
        total = IngestReport()
        with _progress() as progress:
            task = progress.add_task(f"import {path.name}", total=len(candidates))
            for offset in range(0, len(candidates), IMPORT_CHUNK):
                batch = candidates[offset : offset + IMPORT_CHUNK]
                source = batch[0].source if batch else f"file:{path.name}"
                total.add(await collector.ingest(FetchedBars(source, batch)))
                progress.update(task, advance=len(batch))
        return total

    report = _run(settings_for(environment), work)
    _print_report(report, as_json, {"file": str(path)})


@app.command()
def status(
    gap_sessions: Annotated[int, typer.Option(help="recent sessions checked for gaps")] = 5,
    as_json: JsonOption = False,
    environment: EnvironmentOption = None,
) -> None:
    """Per symbol and timeframe: latest bar, age, count, gaps (what GET /data/status answers)."""

    async def work(collector: DataCollector) -> dict[str, Any]:
        return {
            "watchlist": await collector.watchlist.symbols(),
            "series": await collector.data_status(gap_sessions),
        }

    result = _run(settings_for(environment), work)
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(title=f"market_data (watchlist: {', '.join(result['watchlist']) or 'empty'})")
    for column in ("symbol", "timeframe", "latest bar", "age", "bars", "missing (recent)"):
        table.add_column(column)
    for item in result["series"]:
        hours = item["age_seconds"] / 3600
        table.add_row(
            item["symbol"],
            item["timeframe"],
            item["latest_bar_at"],
            f"{hours:,.1f} h",
            f"{item['bar_count']:,}",
            str(item["gaps"].get("missing_bars", 0)),
        )
    console.print(table)
