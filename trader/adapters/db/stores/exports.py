"""Export datasets read as streams of row batches, and the `export_jobs` record of every export."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Integer, Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import (
    export_jobs,
    fills,
    market_data,
    positions,
    risk_decisions,
    signals,
    trades,
)
from trader.adapters.db.types import Amount, UTCDateTime
from trader.adapters.exports.writers import ColumnSpec

BATCH_ROWS = 5000


def column_spec(column: Column[Any], name: str | None = None) -> ColumnSpec:
    kind = column.type
    label = name or column.name
    if isinstance(kind, Amount):
        return ColumnSpec(label, "decimal", kind.precision, kind.scale)
    if isinstance(kind, UTCDateTime):
        return ColumnSpec(label, "timestamp")
    if isinstance(kind, Boolean):
        return ColumnSpec(label, "boolean")
    if isinstance(kind, BigInteger | Integer):
        return ColumnSpec(label, "integer")
    if isinstance(kind, Float):
        return ColumnSpec(label, "float")
    if isinstance(kind, JSON):
        return ColumnSpec(label, "json")
    return ColumnSpec(label, "text")


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    description: str
    columns: tuple[Column[Any], ...]
    time_column: Column[Any]
    symbol_column: Column[Any]
    order_by: tuple[Column[Any], ...]
    join: Any = None

    @property
    def specs(self) -> list[ColumnSpec]:
        return [column_spec(column, self._label(column)) for column in self.columns]

    def _label(self, column: Column[Any]) -> str:
        # The executions dataset adds order columns; prefix them so names stay unique.
        if self.join is not None and column.table is trades:
            return f"order_{column.name}"
        return column.name

    def query(self, start: datetime | None, end: datetime | None, symbols: Sequence[str]) -> Select[Any]:
        query = select(*self.columns)
        if self.join is not None:
            query = query.select_from(self.join)
        if start is not None:
            query = query.where(self.time_column >= start)
        if end is not None:
            query = query.where(self.time_column < end)
        if symbols:
            query = query.where(self.symbol_column.in_(list(symbols)))
        return query.order_by(*self.order_by)


_ORDER_COLUMNS_FOR_EXECUTIONS = (trades.c.client_order_id, trades.c.strategy_name, trades.c.order_type)

DATASETS: dict[str, Dataset] = {
    "market_data": Dataset(
        "market_data",
        "bars (one row per symbol and timestamp at the base timeframe)",
        tuple(market_data.c),
        market_data.c.timestamp,
        market_data.c.symbol,
        (market_data.c.symbol, market_data.c.timestamp),
    ),
    "orders": Dataset(
        "orders",
        "every order with its status (the `trades` table)",
        tuple(trades.c),
        trades.c.timestamp,
        trades.c.symbol,
        (trades.c.timestamp, trades.c.id),
    ),
    "trades": Dataset(
        "trades",
        "executions: each fill with its order's client id, strategy and type",
        (*fills.c, *_ORDER_COLUMNS_FOR_EXECUTIONS),
        fills.c.timestamp,
        fills.c.symbol,
        (fills.c.timestamp, fills.c.id),
        join=fills.join(trades, fills.c.trade_id == trades.c.id),
    ),
    "fills": Dataset(
        "fills",
        "fills as recorded",
        tuple(fills.c),
        fills.c.timestamp,
        fills.c.symbol,
        (fills.c.timestamp, fills.c.id),
    ),
    "positions": Dataset(
        "positions",
        "positions (date range filters on updated_at)",
        tuple(positions.c),
        positions.c.updated_at,
        positions.c.symbol,
        (positions.c.symbol,),
    ),
    "signals": Dataset(
        "signals",
        "strategy signals",
        tuple(signals.c),
        signals.c.timestamp,
        signals.c.symbol,
        (signals.c.timestamp, signals.c.id),
    ),
    "risk_decisions": Dataset(
        "risk_decisions",
        "risk manager decisions with reasons",
        tuple(risk_decisions.c),
        risk_decisions.c.timestamp,
        risk_decisions.c.symbol,
        (risk_decisions.c.timestamp, risk_decisions.c.id),
    ),
}


async def stream_rows(
    engine: AsyncEngine, query: Select[Any], batch_rows: int = BATCH_ROWS
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Server-side cursor on PostgreSQL, incremental fetch on SQLite: batches of at most `batch_rows`."""
    async with engine.connect() as connection:
        result = await connection.stream(query.execution_options(yield_per=batch_rows))
        async for partition in result.partitions(batch_rows):
            yield [tuple(row) for row in partition]


@dataclass(frozen=True, slots=True)
class ExportJob:
    id: int
    kind: str
    format: str
    filters: dict[str, Any]
    status: str
    path: str | None
    row_count: int | None
    byte_count: int | None
    requested_by: str | None
    error_message: str | None
    created_at: datetime
    finished_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "format": self.format,
            "filters": self.filters,
            "status": self.status,
            "path": self.path,
            "row_count": self.row_count,
            "byte_count": self.byte_count,
            "requested_by": self.requested_by,
            "error_message": self.error_message,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class ExportJobStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def start(
        self,
        *,
        kind: str,
        output_format: str,
        filters: dict[str, Any],
        requested_by: str | None,
        at: datetime,
    ) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                insert(export_jobs).returning(export_jobs.c.id),
                {
                    "kind": kind,
                    "format": output_format,
                    "filters": filters,
                    "status": "running",
                    "requested_by": requested_by,
                    "created_at": at,
                },
            )
            return int(result.scalar_one())

    async def finish(self, job_id: int, *, path: str, rows: int, size: int, at: datetime) -> None:
        await self._update(
            job_id, status="succeeded", path=path, row_count=rows, byte_count=size, finished_at=at
        )

    async def fail(self, job_id: int, *, error: str, at: datetime) -> None:
        await self._update(job_id, status="failed", error_message=error[:2000], finished_at=at)

    async def _update(self, job_id: int, **values: Any) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(update(export_jobs).where(export_jobs.c.id == job_id).values(**values))

    async def get(self, job_id: int) -> ExportJob | None:
        async with self._engine.connect() as connection:
            row = (
                (await connection.execute(select(export_jobs).where(export_jobs.c.id == job_id)))
                .mappings()
                .first()
            )
        return None if row is None else _job(row)

    async def recent(self, *, limit: int = 50, kind: str | None = None) -> list[ExportJob]:
        query = select(export_jobs).order_by(export_jobs.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(export_jobs.c.kind == kind)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_job(row) for row in rows]


def _job(row: Any) -> ExportJob:
    return ExportJob(
        id=row["id"],
        kind=row["kind"],
        format=row["format"],
        filters=row["filters"] or {},
        status=row["status"],
        path=row["path"],
        row_count=row["row_count"],
        byte_count=row["byte_count"],
        requested_by=row["requested_by"],
        error_message=row["error_message"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )
