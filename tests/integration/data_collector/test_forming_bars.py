"""A provider that serves the bar still forming (Twelve Data's time_series does): polled every minute
through the official SDK, every completed bar is stored and announced exactly once with its final
values, the forming one never (it is not stored, so its completion is no correction either)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.server import EmulatorServer
from tests.emulators.twelvedata import TwelveDataEmulator
from tests.integration.data_collector.conftest import CALENDAR, seed_rows
from tests.integration.data_collector.live import OBSERVER, Observed, running_collector, until
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.marketdata.credits import CreditLimiter
from trader.adapters.twelvedata.provider import TwelveDataProvider
from trader.core.market import Timeframe
from trader.core.topics import BARS

OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MINUTES = 20


async def test_every_completed_bar_is_announced_once_with_its_final_values(
    engine: AsyncEngine, twelvedata: TwelveDataEmulator, twelvedata_server: EmulatorServer
) -> None:
    rows = seed_rows(MINUTES + 1)
    twelvedata.seed_bars("AAPL", "1min", rows)
    twelvedata.serve_forming_bar = True
    clock = SimulatedClock(OPEN, speed=0)
    twelvedata.set_now(OPEN)
    provider = TwelveDataProvider(
        twelvedata.api_key,
        CALENDAR,
        CreditLimiter(clock, twelvedata.credits_per_minute),
        base_url=twelvedata_server.base_url,
    )
    bus = InMemoryBus()
    await bus.ensure_group(BARS, OBSERVER)
    observed = Observed(bus)
    async with running_collector(engine, bus, clock, provider, None) as live:
        for index in range(MINUTES):
            # Each tick polls 5 s after a minute closed: the provider has that minute complete and
            # the next one forming.
            tick_at = OPEN + timedelta(minutes=index + 1, seconds=5)
            twelvedata.set_now(tick_at)
            clock.advance_to(tick_at)
            await until(
                lambda index=index: (
                    live.published(Timeframe.MINUTE1) == index + 1
                    and live.collector.totals.forming == index + 1
                ),
                f"minute {index} stored and announced, the next one seen forming and left out",
            )
    await observed.drain()
    assert not observed.repeats() and not observed.corrected()
    minutes = observed.closed(Timeframe.MINUTE1)
    assert [(event.bar_at, event.close, event.volume) for event in minutes] == [
        (row.opened_at, row.close, Decimal(row.volume)) for row in rows[:MINUTES]
    ]
    assert [event.bar_at for event in observed.closed(Timeframe.MINUTE5)] == [
        OPEN + timedelta(minutes=m) for m in (0, 5, 10, 15)
    ]
    stored = await MarketDataStore(engine).bars("AAPL", timeframe=Timeframe.MINUTE1)
    assert [(bar.timestamp, bar.close, bar.volume) for bar in stored] == [
        (row.opened_at, row.close, Decimal(row.volume)) for row in rows[:MINUTES]
    ]
    # The forming bar really was served every time (partial values, never the final ones).
    sent = [request for request in twelvedata.requests if request.path == "/time_series"]
    assert len(sent) == 2 * MINUTES
