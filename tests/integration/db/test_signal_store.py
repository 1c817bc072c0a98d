"""Signals recorded a batch at a time stay one per (strategy, symbol, bar), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.signals import SignalRecord, SignalStore, signal_event, signal_record
from trader.adapters.db.tables import signals
from trader.core.events import SignalEmitted
from trader.core.market import Timeframe

BAR_AT = datetime(2024, 3, 8, 14, 30, tzinfo=UTC)


def signal(event_id: str, symbol: str, *, strategy: str = "default", minute: int = 0) -> SignalRecord:
    return SignalRecord(
        event_id=event_id,
        strategy_name=strategy,
        symbol=symbol,
        timeframe="1min",
        bar_timestamp=BAR_AT + timedelta(minutes=minute),
        direction="buy",
        strength=Decimal("0.731204"),
        price=Decimal("187.12345678"),
        timestamp=BAR_AT + timedelta(minutes=minute + 1),
        reason="sma_crossover buy",
        features={"lookback_bars": 6},
    )


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(signals))).scalar_one())


async def test_a_batch_stores_each_new_signal_once_and_says_so_in_order(engine: AsyncEngine) -> None:
    store = SignalStore(engine)
    batch = [signal("e1", "AAPL"), signal("e2", "MSFT"), signal("e3", "AAPL", strategy="other")]
    stored = await store.record_many(batch)
    assert [(record.event_id, created) for record, created in stored] == [
        ("e1", True),
        ("e2", True),
        ("e3", True),
    ]
    assert len({record.id for record, _ in stored}) == 3
    recent = {record.event_id: record for record in await store.recent()}
    for record, _ in stored:
        # What the batch returns is the row as stored (the id included).
        assert recent[record.event_id] == record
    assert await store.record_many([]) == []


async def test_a_redelivered_bar_finds_its_signal_and_a_new_bar_is_stored(engine: AsyncEngine) -> None:
    store = SignalStore(engine)
    ((first, _),) = await store.record_many([signal("e1", "AAPL")])
    again = await store.record_many(
        [signal("e9", "MSFT"), signal("e2", "AAPL"), signal("e3", "AAPL", minute=1)]
    )
    assert [(record.event_id, created) for record, created in again] == [
        ("e9", True),
        ("e1", False),
        ("e3", True),
    ]
    assert again[1][0] == first
    assert await count(engine) == 3


async def test_a_bar_twice_in_one_batch_is_stored_once_and_the_copy_finds_it(engine: AsyncEngine) -> None:
    store = SignalStore(engine)
    stored = await store.record_many([signal("e1", "AAPL"), signal("e2", "MSFT"), signal("e3", "AAPL")])
    assert [(record.event_id, created) for record, created in stored] == [
        ("e1", True),
        ("e2", True),
        ("e1", False),
    ]
    assert stored[0][0] == stored[2][0]
    assert await count(engine) == 2


def test_a_signal_is_published_as_its_stored_record_and_received_back_as_it() -> None:
    record = replace(signal("e1", "AAPL"), id=7)
    event = signal_event(record)
    assert event == SignalEmitted(
        event_id="e1",
        occurred_at=BAR_AT + timedelta(minutes=1),
        strategy_name="default",
        symbol="AAPL",
        timeframe=Timeframe.MINUTE1,
        bar_at=BAR_AT,
        direction="buy",
        strength=Decimal("0.731204"),
        price=Decimal("187.12345678"),
        reason="sma_crossover buy",
    )
    # The event carries neither the row id nor the features.
    assert signal_record(event) == replace(record, id=None, features=None)
    # No reason travels as an empty one and comes back as none.
    unexplained = replace(record, reason=None)
    assert signal_event(unexplained).reason == ""
    assert signal_record(signal_event(unexplained)).reason is None
    # A received price is kept to the price column's scale.
    assert signal_record(replace(event, price=Decimal("187.123456784"))).price == Decimal("187.12345678")


async def test_numbers_json_cannot_hold_are_stored_as_null_and_the_batch_with_them(
    engine: AsyncEngine,
) -> None:
    """A model's probability can be NaN (too little history): PostgreSQL refuses NaN in JSON, and
    one such row failed the whole batch of a minute's signals."""
    odd = replace(
        signal("e-odd", "AAPL"),
        features={"probability_up": float("nan"), "ratios": [1.5, float("inf")], "n": {"x": -float("inf")}},
    )
    store = SignalStore(engine)

    stored = await store.record_many([signal("e-fine", "MSFT"), odd])

    assert [created for _record, created in stored] == [True, True]
    async with engine.connect() as connection:
        features = (
            await connection.execute(select(signals.c.features).where(signals.c.event_id == "e-odd"))
        ).scalar_one()
    assert features == {"probability_up": None, "ratios": [1.5, None], "n": {"x": None}}
