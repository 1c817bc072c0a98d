"""Bars in `market_data`: one row per (symbol, timestamp), written as idempotent upserts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import market_data
from trader.core.market import Bar, Timeframe

_VALUE_COLUMNS = (
    "open_price",
    "high_price",
    "low_price",
    "close_price",
    "volume",
    "adjustment_factor",
    "source",
)
# SQLite caps bound parameters per statement; 13 columns x 500 rows stays well inside it.
_BATCH_ROWS = 500


@dataclass(frozen=True, slots=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int

    @property
    def written(self) -> int:
        return self.inserted + self.updated


@dataclass(frozen=True, slots=True)
class SymbolFreshness:
    symbol: str
    latest_at: datetime
    bar_count: int


def _row(bar: Bar) -> dict[str, Any]:
    return {
        "symbol": bar.symbol,
        "timestamp": bar.timestamp,
        "timeframe": bar.timeframe.value,
        "open_price": bar.open,
        "high_price": bar.high,
        "low_price": bar.low,
        "close_price": bar.close,
        "volume": bar.volume,
        "source": bar.source,
        "adjustment_factor": bar.adjustment_factor,
    }


class MarketDataStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def _insert(self) -> Any:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(market_data)
        return sqlite.insert(market_data)

    async def upsert_bars(self, bars: Sequence[Bar]) -> UpsertResult:
        """Insert new bars, correct changed ones, leave identical ones untouched (re-ingest is a no-op)."""
        if not bars:
            return UpsertResult(0, 0, 0)
        unique = {(bar.symbol, bar.timestamp): bar for bar in bars}
        inserted = updated = 0
        async with self._engine.begin() as connection:
            batch_items = list(unique.values())
            for start in range(0, len(batch_items), _BATCH_ROWS):
                chunk = batch_items[start : start + _BATCH_ROWS]
                keys = [(bar.symbol, bar.timestamp) for bar in chunk]
                existing = {
                    (row.symbol, row.timestamp)
                    for row in await connection.execute(
                        select(market_data.c.symbol, market_data.c.timestamp).where(
                            tuple_(market_data.c.symbol, market_data.c.timestamp).in_(keys)
                        )
                    )
                }
                statement = self._insert()
                changed = [
                    getattr(market_data.c, name) != getattr(statement.excluded, name)
                    for name in _VALUE_COLUMNS
                ]
                statement = statement.on_conflict_do_update(
                    index_elements=["symbol", "timestamp"],
                    set_={name: getattr(statement.excluded, name) for name in _VALUE_COLUMNS},
                    where=or_(*changed),
                ).returning(market_data.c.id)
                # Identical rows fail the WHERE and return nothing, so what comes back was written.
                written = len((await connection.execute(statement, [_row(bar) for bar in chunk])).all())
                new_rows = sum(1 for key in keys if key not in existing)
                inserted += new_rows
                updated += max(written - new_rows, 0)
        return UpsertResult(inserted, updated, len(unique) - inserted - updated)

    async def bars(
        self,
        symbol: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Bar]:
        conditions = [market_data.c.symbol == symbol]
        if start is not None:
            conditions.append(market_data.c.timestamp >= start)
        if end is not None:
            conditions.append(market_data.c.timestamp < end)
        order = market_data.c.timestamp.desc() if newest_first else market_data.c.timestamp.asc()
        query = select(market_data).where(and_(*conditions)).order_by(order)
        if limit is not None:
            query = query.limit(limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            Bar(
                symbol=row["symbol"],
                timeframe=Timeframe(row["timeframe"]),
                timestamp=row["timestamp"],
                open=row["open_price"],
                high=row["high_price"],
                low=row["low_price"],
                close=row["close_price"],
                volume=row["volume"],
                source=row["source"],
                adjustment_factor=row["adjustment_factor"] or Decimal(1),
            )
            for row in rows
        ]

    async def freshness(self) -> list[SymbolFreshness]:
        query = (
            select(market_data.c.symbol, func.max(market_data.c.timestamp), func.count())
            .group_by(market_data.c.symbol)
            .order_by(market_data.c.symbol)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        # max() keeps the column's type, so the timestamps come back aware UTC on both back ends.
        return [SymbolFreshness(symbol, latest, count) for symbol, latest, count in rows]
