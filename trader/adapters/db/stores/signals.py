"""Signals in `signals`: written before they are published, one row per (strategy, symbol, bar)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import signals


@dataclass(frozen=True, slots=True)
class SignalRecord:
    event_id: str
    strategy_name: str
    symbol: str
    timeframe: str
    bar_timestamp: datetime
    direction: str
    strength: Decimal
    price: Decimal
    timestamp: datetime
    reason: str | None = None
    features: dict[str, Any] | None = None
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "strategy_name": self.strategy_name,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "bar_timestamp": self.bar_timestamp.isoformat(),
            "direction": self.direction,
            "strength": str(self.strength),
            "price": str(self.price),
            "reason": self.reason,
            "features": self.features,
            "timestamp": self.timestamp.isoformat(),
        }


def _record(row: RowMapping) -> SignalRecord:
    return SignalRecord(
        id=row["id"],
        event_id=row["event_id"],
        strategy_name=row["strategy_name"],
        symbol=row["symbol"],
        timeframe=row["timeframe"],
        bar_timestamp=row["bar_timestamp"],
        direction=row["direction"],
        strength=row["strength"],
        price=row["price"],
        reason=row["reason"],
        features=row["features"],
        timestamp=row["timestamp"],
    )


def signal_row(record: SignalRecord) -> dict[str, Any]:
    """The `signals` columns of a record, all but the id the database assigns."""
    return {
        "event_id": record.event_id,
        "strategy_name": record.strategy_name,
        "symbol": record.symbol,
        "timeframe": record.timeframe,
        "bar_timestamp": record.bar_timestamp,
        "direction": record.direction,
        "strength": record.strength,
        "price": record.price,
        "reason": record.reason,
        "features": record.features,
        "timestamp": record.timestamp,
    }


class SignalStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record_once(self, record: SignalRecord) -> tuple[SignalRecord, bool]:
        """Store the signal unless this strategy already signalled this symbol's bar.

        Returns the stored row and whether it is new: a redelivered bar finds the first row, so
        its event is published again with the same id instead of a second signal.
        """
        key = and_(
            signals.c.strategy_name == record.strategy_name,
            signals.c.symbol == record.symbol,
            signals.c.bar_timestamp == record.bar_timestamp,
        )
        async with self._engine.begin() as connection:
            existing = (await connection.execute(select(signals).where(key).limit(1))).mappings().first()
            if existing is not None:
                return _record(existing), False
            values = signal_row(record)
            new_id = (
                await connection.execute(insert(signals).values(values).returning(signals.c.id))
            ).scalar_one()
        return SignalRecord(**{**values, "id": new_id}), True

    async def recent(
        self,
        *,
        limit: int = 100,
        strategy_name: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
    ) -> list[SignalRecord]:
        query = select(signals).order_by(signals.c.timestamp.desc(), signals.c.id.desc()).limit(limit)
        if strategy_name is not None:
            query = query.where(signals.c.strategy_name == strategy_name)
        if symbol is not None:
            query = query.where(signals.c.symbol == symbol)
        if since is not None:
            query = query.where(signals.c.timestamp >= since)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_record(row) for row in rows]

    async def latest_by_strategy(self) -> dict[str, SignalRecord]:
        newest = (
            select(signals.c.strategy_name, func.max(signals.c.id).label("last_id"))
            .group_by(signals.c.strategy_name)
            .subquery()
        )
        query = select(signals).join(newest, signals.c.id == newest.c.last_id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return {row["strategy_name"]: _record(row) for row in rows}
