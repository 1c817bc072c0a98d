"""The stores behave the same on SQLite and PostgreSQL (every test runs on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.audit import AuditEntry, AuditStore
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.tables import trades
from trader.core.market import Bar, Timeframe

START = datetime(2024, 3, 8, 14, 30, tzinfo=UTC)


def make_bar(minute: int, close: str = "100.25", symbol: str = "AAPL") -> Bar:
    price = Decimal(close)
    return Bar(
        symbol=symbol,
        timeframe=Timeframe.MINUTE1,
        timestamp=START + timedelta(minutes=minute),
        open=price - Decimal("0.5"),
        high=price + Decimal("1.125"),
        low=price - Decimal("1"),
        close=price,
        volume=Decimal(1500 + minute),
        source="test",
    )


async def test_bars_round_trip_exactly(engine: AsyncEngine) -> None:
    store = MarketDataStore(engine)
    bars = [make_bar(minute, close=f"{100 + minute}.123456") for minute in range(5)]
    result = await store.upsert_bars(bars)
    assert (result.inserted, result.updated, result.unchanged) == (5, 0, 0)
    loaded = await store.bars("AAPL")
    assert loaded == bars
    assert all(bar.timestamp.tzinfo is UTC or bar.timestamp.utcoffset() == timedelta(0) for bar in loaded)


async def test_reingesting_the_same_batch_changes_nothing(engine: AsyncEngine) -> None:
    store = MarketDataStore(engine)
    bars = [make_bar(minute) for minute in range(10)]
    await store.upsert_bars(bars)
    again = await store.upsert_bars(bars)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 10)
    async with engine.connect() as connection:
        count = (await connection.execute(text("SELECT COUNT(*) FROM market_data"))).scalar_one()
    assert count == 10


async def test_a_corrected_bar_replaces_the_old_values(engine: AsyncEngine) -> None:
    store = MarketDataStore(engine)
    await store.upsert_bars([make_bar(0, "100"), make_bar(1, "101")])
    result = await store.upsert_bars([make_bar(1, "101.5"), make_bar(2, "102")])
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 0)
    closes = [bar.close for bar in await store.bars("AAPL")]
    assert closes == [Decimal("100.000000"), Decimal("101.500000"), Decimal("102.000000")]


async def test_range_and_limit_queries(engine: AsyncEngine) -> None:
    store = MarketDataStore(engine)
    await store.upsert_bars([make_bar(minute) for minute in range(30)] + [make_bar(0, symbol="MSFT")])
    window = await store.bars("AAPL", start=START + timedelta(minutes=10), end=START + timedelta(minutes=20))
    assert [bar.timestamp for bar in window] == [START + timedelta(minutes=m) for m in range(10, 20)]
    newest = await store.bars("AAPL", limit=3, newest_first=True)
    assert [bar.timestamp for bar in newest] == [START + timedelta(minutes=m) for m in (29, 28, 27)]
    freshness = {item.symbol: item for item in await store.freshness()}
    assert freshness["AAPL"].latest_at == START + timedelta(minutes=29)
    assert freshness["AAPL"].bar_count == 30
    assert freshness["MSFT"].bar_count == 1


async def test_the_schema_refuses_impossible_bars(engine: AsyncEngine) -> None:
    # Validation happens before storage; the constraints are the last line of defence.
    store = MarketDataStore(engine)
    bar = make_bar(0)
    broken = Bar(**{**{f: getattr(bar, f) for f in bar.__slots__}, "high": Decimal("1"), "low": Decimal("2")})
    with pytest.raises(IntegrityError):
        await store.upsert_bars([broken])
    assert await store.bars("AAPL") == []


async def test_order_status_and_quantity_are_constrained(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    row = {
        "client_order_id": "c-1",
        "broker": "simulated",
        "symbol": "AAPL",
        "side": "buy",
        "order_type": "market",
        "time_in_force": "day",
        "quantity": Decimal("10"),
        "timestamp": now,
        "updated_at": now,
    }
    async with engine.begin() as connection:
        await connection.execute(insert(trades), row)
        stored = (await connection.execute(select(trades.c.status, trades.c.filled_quantity))).one()
    assert stored.status == "pending"
    assert stored.filled_quantity == Decimal(0)
    for bad in ({"status": "lost"}, {"quantity": Decimal("-1")}, {"client_order_id": "c-1"}):
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(insert(trades), {**row, "client_order_id": "c-2", **bad})


async def test_audit_entries_are_recorded_and_filtered(engine: AsyncEngine) -> None:
    store = AuditStore(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    await store.record_many(
        [
            AuditEntry(
                timestamp=now - timedelta(minutes=2),
                action="authenticate",
                service_name="risk_manager",
                success=False,
                ip_address="127.0.0.1",
                error_message="invalid token",
                severity="warning",
            ),
            AuditEntry(
                timestamp=now,
                action="emergency_shutdown",
                service_name="maintenance_service",
                success=True,
                user_id="admin",
                severity="critical",
                execution_time_ms=12.5,
                details={"reason": "test"},
            ),
        ]
    )
    failed_logins = await store.recent(action="authenticate")
    assert [(e.success, e.error_message, e.ip_address) for e in failed_logins] == [
        (False, "invalid token", "127.0.0.1")
    ]
    everything = await store.recent()
    assert [e.action for e in everything] == ["emergency_shutdown", "authenticate"]
    assert everything[0].details == {"reason": "test"}
    assert everything[0].timestamp == now
    with pytest.raises(ValueError, match="severity"):
        AuditEntry(timestamp=now, action="x", service_name="s", success=True, severity="loud")
