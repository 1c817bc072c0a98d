"""Properties of ingest, over generated batches mixing good and bad bars: no invalid bar is ever
stored, every key with a valid bar is stored once, and re-ingesting the same batch changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.integration.data_collector.conftest import CALENDAR, make_collector
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.marketdata.sample import SampleDataProvider
from trader.core.market import Timeframe
from trader.core.ports import FetchedBars
from trader.core.validation import BarCandidate, validate_bar

OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MOMENTS = [OPEN + timedelta(minutes=minute) for minute in range(4)] + [
    OPEN - timedelta(hours=1),  # before the open
    OPEN + timedelta(seconds=30),  # not on a minute boundary
    datetime(2024, 1, 1, 15, 0, tzinfo=UTC),  # New Year's Day: no session
]
PRICES = st.sampled_from(
    [
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal(0),
        Decimal(-1),
        Decimal("99.5"),
        Decimal(100),
        Decimal("100.25"),
        Decimal(101),
    ]
)
VOLUMES = st.sampled_from([Decimal(-5), Decimal(0), Decimal(1200), Decimal("NaN")])
CANDIDATES = st.builds(
    BarCandidate,
    symbol=st.sampled_from(["AAPL", "MSFT"]),
    timeframe=st.just(Timeframe.MINUTE1),
    timestamp=st.sampled_from(MOMENTS),
    open=PRICES,
    high=PRICES,
    low=PRICES,
    close=PRICES,
    volume=VOLUMES,
    source=st.just("generated"),
)


@st.composite
def consistent_bars(draw: st.DrawFn) -> BarCandidate:
    """Bars that pass every value rule (they may still sit outside a session)."""
    low, open_, close, high = sorted(
        draw(st.lists(st.decimals(min_value=1, max_value=500, places=2), min_size=4, max_size=4))
    )
    return BarCandidate(
        symbol=draw(st.sampled_from(["AAPL", "MSFT"])),
        timeframe=Timeframe.MINUTE1,
        timestamp=draw(st.sampled_from(MOMENTS)),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=Decimal(draw(st.integers(0, 10_000))),
        source="generated",
    )


async def _check(url: str, batch: list[BarCandidate]) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM market_data"))
    clock = SimulatedClock(OPEN + timedelta(hours=2), speed=0)
    bus = InMemoryBus()
    collector = make_collector(engine, SampleDataProvider(CALENDAR, clock), clock, bus)
    store = MarketDataStore(engine)
    try:
        first = await collector.ingest(FetchedBars("generated", batch))
        stored = [bar for symbol in ("AAPL", "MSFT") for bar in await store.bars(symbol)]
        assert all(validate_bar(bar, CALENDAR) is None for bar in stored)
        valid_keys = {(c.symbol, c.timestamp) for c in batch if validate_bar(c, CALENDAR) is None}
        assert sorted((bar.symbol, bar.timestamp) for bar in stored) == sorted(valid_keys)
        assert first.fetched == len(batch) == first.stored + first.rejected + first.duplicate
        again = await collector.ingest(FetchedBars("generated", batch))
        assert (again.stored, again.inserted, again.updated) == (0, 0, 0)
        assert [bar for symbol in ("AAPL", "MSFT") for bar in await store.bars(symbol)] == stored
    finally:
        await bus.close()
        await engine.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.one_of(CANDIDATES, consistent_bars()), max_size=25))
def test_no_invalid_bar_is_stored_and_reingest_changes_nothing(
    sqlite_url: str, batch: list[BarCandidate]
) -> None:
    asyncio.run(_check(sqlite_url, batch))
