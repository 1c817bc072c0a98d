"""Signals in `signals`: written before they are published, one row per (strategy, symbol, bar)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trader.adapters.db.tables import signals
from trader.core.events import SignalEmitted
from trader.core.market import Timeframe
from trader.core.money import to_price


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
    stop_price: Decimal | None = None
    target_price: Decimal | None = None

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
            "stop_price": None if self.stop_price is None else str(self.stop_price),
            "target_price": None if self.target_price is None else str(self.target_price),
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
        stop_price=row["stop_price"],
        target_price=row["target_price"],
    )


def signal_event(record: SignalRecord) -> SignalEmitted:
    """The event a stored signal is published as: its own id and time, so a republished signal is
    the same event (no reason is an empty one)."""
    return SignalEmitted(
        event_id=record.event_id,
        occurred_at=record.timestamp,
        strategy_name=record.strategy_name,
        symbol=record.symbol,
        timeframe=Timeframe(record.timeframe),
        bar_at=record.bar_timestamp,
        direction=record.direction,
        strength=record.strength,
        price=record.price,
        reason=record.reason or "",
        stop_price=record.stop_price,
        target_price=record.target_price,
    )


def signal_record(event: SignalEmitted) -> SignalRecord:
    """A received signal event as the row that records it (`signal_event` the other way round)."""
    return SignalRecord(
        event_id=event.event_id,
        strategy_name=event.strategy_name,
        symbol=event.symbol,
        timeframe=event.timeframe.value,
        bar_timestamp=event.bar_at,
        direction=event.direction,
        strength=event.strength,
        price=to_price(event.price),
        timestamp=event.occurred_at,
        reason=event.reason or None,
        stop_price=event.stop_price,
        target_price=event.target_price,
    )


# (strategy, symbol, bar): a strategy signals a symbol's bar at most once.
_Key = tuple[str, str, datetime]
# Keys looked up per statement: three bound values each, well inside SQLite's parameter limit.
_KEYS_PER_STATEMENT = 500


def _key(record: SignalRecord) -> _Key:
    return (record.strategy_name, record.symbol, record.bar_timestamp)


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
        "stop_price": record.stop_price,
        "target_price": record.target_price,
    }


class SignalStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record_many(self, records: Sequence[SignalRecord]) -> list[tuple[SignalRecord, bool]]:
        """Store each signal unless its strategy already signalled that symbol's bar, all in one
        transaction. Returns, per record and in order, the stored row and whether it is new.

        A redelivered bar finds the first row, so its event is published again with the same id
        instead of a second signal; a bar given twice in one batch is stored once and the second
        copy finds the first.
        """
        if not records:
            return []
        async with self._engine.begin() as connection:
            stored = await self._stored(connection, {_key(record) for record in records})
            fresh: dict[_Key, SignalRecord] = {}
            for record in records:
                if _key(record) not in stored:
                    fresh.setdefault(_key(record), record)
            stored.update(await self._insert(connection, list(fresh.values())))
        # Only a key's first record in the batch is the one stored now.
        created = set(fresh)
        results = []
        for record in records:
            key = _key(record)
            results.append((stored[key], key in created))
            created.discard(key)
        return results

    @staticmethod
    async def _stored(connection: AsyncConnection, keys: set[_Key]) -> dict[_Key, SignalRecord]:
        """The stored signal of each key that has one (the first, should a race have stored two)."""
        found: dict[_Key, SignalRecord] = {}
        ordered = sorted(keys)
        columns = tuple_(signals.c.strategy_name, signals.c.symbol, signals.c.bar_timestamp)
        for start in range(0, len(ordered), _KEYS_PER_STATEMENT):
            query = (
                select(signals)
                .where(columns.in_(ordered[start : start + _KEYS_PER_STATEMENT]))
                .order_by(signals.c.id)
            )
            for row in (await connection.execute(query)).mappings():
                record = _record(row)
                found.setdefault(_key(record), record)
        return found

    @staticmethod
    async def _insert(
        connection: AsyncConnection, records: Sequence[SignalRecord]
    ) -> dict[_Key, SignalRecord]:
        if not records:
            return {}
        rows = [signal_row(record) for record in records]
        # sort_by_parameter_order pairs each returned id with its row on both back ends.
        statement = insert(signals).returning(signals.c.id, sort_by_parameter_order=True)
        ids = (await connection.execute(statement, rows)).scalars().all()
        return {
            _key(record): SignalRecord(**{**row, "id": new_id})
            for record, row, new_id in zip(records, rows, ids, strict=True)
        }

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
