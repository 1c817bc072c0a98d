"""Export use cases: stream a dataset to a file, build reports, and record every job."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.exports import DATASETS, ExportJobStore, stream_rows
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.tables import account_snapshots, fills, risk_decisions, signals, trades
from trader.adapters.exports.writers import ColumnSpec, write_batches
from trader.backtest.align import align_series
from trader.backtest.benchmark import buy_and_hold
from trader.core.fills import FillModel
from trader.core.strategies.series import BarSeries, from_epoch_nanoseconds
from trader.core.tax_lots import Execution, RealisedLot, match_lots
from trader.reports.daily import DayActivity, daily_summary
from trader.reports.performance import build_performance_report, render_performance_html
from trader.reports.tradenote import HEADER as TRADENOTE_HEADER
from trader.reports.tradenote import tradenote_rows
from trader.services.common.resources import Resources
from trader.services.export_service.schemas import ExportKind, ExportRequest

log = logging.getLogger(__name__)

TAX_LOT_COLUMNS = (
    ColumnSpec("symbol", "text"),
    ColumnSpec("strategy", "text"),
    ColumnSpec("direction", "text"),
    ColumnSpec("quantity", "decimal", 24, 9),
    ColumnSpec("opened_at", "timestamp"),
    ColumnSpec("closed_at", "timestamp"),
    ColumnSpec("cost_basis", "decimal", 24, 8),
    ColumnSpec("proceeds", "decimal", 24, 8),
    ColumnSpec("gain", "decimal", 24, 8),
    ColumnSpec("term", "text"),
    ColumnSpec("open_execution", "text"),
    ColumnSpec("close_execution", "text"),
)


async def load_executions(
    engine: AsyncEngine, *, end: datetime | None, symbols: Sequence[str], by_strategy: bool
) -> list[Execution]:
    """Every fill up to `end` (lots opened before a period still close inside it)."""
    query = (
        select(
            fills.c.symbol,
            fills.c.side,
            fills.c.quantity,
            fills.c.price,
            fills.c.commission,
            fills.c.timestamp,
            fills.c.execution_id,
            trades.c.strategy_name,
            fills.c.regulatory_fees,
        )
        .select_from(fills.join(trades, fills.c.trade_id == trades.c.id))
        .order_by(fills.c.timestamp, fills.c.id)
    )
    if end is not None:
        query = query.where(fills.c.timestamp < end)
    if symbols:
        query = query.where(fills.c.symbol.in_(list(symbols)))
    executions: list[Execution] = []
    async for batch in stream_rows(engine, query):
        executions.extend(
            Execution(
                symbol=row[0],
                side=row[1],
                quantity=row[2],
                price=row[3],
                commission=row[4] or Decimal(0),
                executed_at=row[5],
                reference=row[6],
                group=(row[7] or "") if by_strategy else "",
                regulatory_fees=row[8] or Decimal(0),
            )
            for row in batch
        )
    return executions


async def buy_and_hold_curve(
    engine: AsyncEngine,
    symbols: Sequence[str],
    *,
    start: datetime | None,
    end: datetime | None,
    initial_equity: Decimal,
    fill_model: FillModel,
) -> list[tuple[datetime, float]]:
    """`initial_equity` split equally between `symbols`, bought with the system's fill model and
    costs at the first fill the period allows (the second stored bar's open) and held: the curve a
    live account is compared with. Empty when there is nothing to compare."""
    store = MarketDataStore(engine)
    loaded = []
    for symbol in sorted(set(symbols)):
        bars = await store.bars(symbol, start=start, end=end)
        if len(bars) >= 2:
            loaded.append(BarSeries.from_bars(bars))
    if not loaded or initial_equity <= 0:
        return []
    try:
        aligned = align_series(loaded)
    except ValueError:  # fewer than two common bar times: nothing to chart
        return []
    held = buy_and_hold(aligned, initial_cash=float(initial_equity), fill_model=fill_model)
    return [
        (from_epoch_nanoseconds(int(moment)), float(value))
        for moment, value in zip(aligned[0].timestamps_ns, held.equity, strict=True)
    ]


def _closed_within(
    lots: Sequence[RealisedLot], start: datetime | None, end: datetime | None
) -> list[RealisedLot]:
    return [
        lot
        for lot in lots
        if (start is None or lot.closed_at >= start) and (end is None or lot.closed_at < end)
    ]


async def _single(rows: list[tuple[Any, ...]]) -> AsyncIterator[list[tuple[Any, ...]]]:
    yield rows


async def _equity(
    engine: AsyncEngine, start: datetime | None, end: datetime | None
) -> list[tuple[datetime, Decimal]]:
    query = select(account_snapshots.c.timestamp, account_snapshots.c.equity).order_by(
        account_snapshots.c.timestamp
    )
    if start is not None:
        query = query.where(account_snapshots.c.timestamp >= start)
    if end is not None:
        query = query.where(account_snapshots.c.timestamp < end)
    equity: list[tuple[datetime, Decimal]] = []
    async for batch in stream_rows(engine, query):
        equity.extend((row[0], row[1]) for row in batch)
    return equity


async def build_daily_summary(engine: AsyncEngine, start: datetime, symbols: Sequence[str]) -> dict[str, Any]:
    day = start.astimezone(UTC).date()
    begin = datetime(day.year, day.month, day.day, tzinfo=UTC)
    finish = begin + timedelta(days=1)
    executions = await load_executions(engine, end=finish, symbols=symbols, by_strategy=False)
    lots = _closed_within(match_lots(executions).realised, begin, finish)

    async def column(query: Any) -> list[Any]:
        async with engine.connect() as connection:
            return list((await connection.execute(query)).all())

    def in_day(table: Any) -> Any:
        condition = (table.c.timestamp >= begin) & (table.c.timestamp < finish)
        return condition & table.c.symbol.in_(list(symbols)) if symbols else condition

    statuses = [row[0] for row in await column(select(trades.c.status).where(in_day(trades)))]
    directions = [row[0] for row in await column(select(signals.c.direction).where(in_day(signals)))]
    decisions = [
        (
            row[0],
            [
                str(reason.get("code", reason)) if isinstance(reason, dict) else str(reason)
                for reason in row[1] or []
            ],
        )
        for row in await column(
            select(risk_decisions.c.decision, risk_decisions.c.reasons).where(in_day(risk_decisions))
        )
    ]
    activity = DayActivity(
        day=day,
        order_statuses=statuses,
        executions=[e for e in executions if begin <= e.executed_at < finish],
        realised=lots,
        signal_directions=directions,
        decisions=decisions,
        equity=await _equity(engine, begin, finish),
    )
    return daily_summary(activity)


def traded_symbols(executions: Sequence[Execution], start: datetime | None) -> list[str]:
    """The symbols filled in the period: what a buy-and-hold comparison holds."""
    return sorted({e.symbol for e in executions if start is None or e.executed_at >= start})


async def _write(
    request: ExportRequest, engine: AsyncEngine, path: Path, generated_at: datetime, fill_model: FillModel
) -> tuple[int, int]:
    kind = request.kind
    if kind.value in DATASETS:
        dataset = DATASETS[kind.value]
        query = dataset.query(request.start, request.end, request.symbols)
        result = await write_batches(stream_rows(engine, query), dataset.specs, str(request.format), path)
        return result.rows, result.bytes
    if kind is ExportKind.TAX_LOTS:
        executions = await load_executions(
            engine, end=request.end, symbols=request.symbols, by_strategy=False
        )
        lots = _closed_within(match_lots(executions).realised, request.start, request.end)
        rows = [
            (
                lot.symbol,
                lot.group,
                lot.direction,
                lot.quantity,
                lot.opened_at,
                lot.closed_at,
                lot.cost_basis,
                lot.proceeds,
                lot.gain,
                lot.term,
                lot.open_reference,
                lot.close_reference,
            )
            for lot in lots
        ]
        result = await write_batches(_single(rows), TAX_LOT_COLUMNS, str(request.format), path)
        return result.rows, result.bytes
    if kind is ExportKind.TRADENOTE:
        executions = await load_executions(
            engine, end=request.end, symbols=request.symbols, by_strategy=False
        )
        lines = [
            row
            for row in tradenote_rows(executions, account="full-ai-trader")
            if request.start is None or _row_on_or_after(row, request.start)
        ]
        return await asyncio.to_thread(_write_csv, path, TRADENOTE_HEADER, lines)
    if kind is ExportKind.PERFORMANCE_REPORT:
        executions = await load_executions(engine, end=request.end, symbols=request.symbols, by_strategy=True)
        lots = _closed_within(match_lots(executions).realised, request.start, request.end)
        equity = await _equity(engine, request.start, request.end)
        traded = traded_symbols(executions, request.start)
        held = await buy_and_hold_curve(
            engine,
            traded,
            start=request.start,
            end=request.end,
            initial_equity=equity[0][1] if equity else Decimal(0),
            fill_model=fill_model,
        )
        report = build_performance_report(
            equity,
            lots,
            title="full-ai-trader performance report",
            start=request.start,
            end=request.end,
            buy_and_hold=held,
            buy_and_hold_symbols=traded,
        )
        page = render_performance_html(report, generated_at=generated_at)
        await asyncio.to_thread(path.write_text, page, "utf-8")
        return len(report.equity), len(page.encode())
    assert request.start is not None  # the schema requires it for the daily summary
    summary = await build_daily_summary(engine, request.start, request.symbols)
    text = json.dumps(summary, indent=2)
    await asyncio.to_thread(path.write_text, text, "utf-8")
    return summary["fills"]["count"], len(text.encode())


def _row_on_or_after(row: tuple[str, ...], start: datetime) -> bool:
    month, day, year = (int(part) for part in row[1].split("/"))
    return (year, month, day) >= (start.year, start.month, start.day)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[int, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows), path.stat().st_size


def _filters(request: ExportRequest) -> dict[str, Any]:
    return {
        "start": request.start.isoformat() if request.start else None,
        "end": request.end.isoformat() if request.end else None,
        "symbols": request.symbols,
    }


async def run_export(
    resources: Resources, request: ExportRequest, *, requested_by: str | None
) -> dict[str, Any]:
    """Record the job, write the file, record the outcome; a failure is a failed job, not a lost one."""
    jobs = ExportJobStore(resources.engine)
    started = datetime.now(UTC)
    output_format = str(request.format)
    job_id = await jobs.start(
        kind=request.kind.value,
        output_format=output_format,
        filters=_filters(request),
        requested_by=requested_by,
        at=started,
    )
    directory = resources.settings.export_dir
    path = directory / f"{request.kind.value}_{started.strftime('%Y%m%dT%H%M%SZ')}_{job_id}.{output_format}"
    try:
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        rows, size = await _write(request, resources.engine, path, started, resources.settings.fill_model())
    except Exception as error:
        log.exception("export %s (%s) failed", job_id, request.kind.value)
        await jobs.fail(job_id, error=f"{type(error).__name__}: {error}", at=datetime.now(UTC))
        await asyncio.to_thread(path.unlink, True)
        raise
    await jobs.finish(job_id, path=str(path), rows=rows, size=size, at=datetime.now(UTC))
    log.info(
        "export %s: %s as %s, %d rows, %d bytes -> %s",
        job_id,
        request.kind.value,
        output_format,
        rows,
        size,
        path,
    )
    job = await jobs.get(job_id)
    assert job is not None
    return job.as_dict()
