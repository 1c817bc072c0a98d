"""Emulators of both providers on loopback, and a collector storing into a scratch SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.alpaca_data_stream import AlpacaDataStreamEmulator
from tests.emulators.server import EmulatorServer
from tests.emulators.twelvedata import SeedBar, TwelveDataEmulator
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.market_data import MarketDataStore, WatchlistStore
from trader.adapters.marketdata.cache import InProcessLatestBarCache
from trader.core.market import Timeframe
from trader.core.ports import MarketDataProvider
from trader.services.data_collector.handlers import DataCollector

NOW = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
MARKET_OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
CALENDAR = XNYSCalendar()


@pytest.fixture
def twelvedata() -> TwelveDataEmulator:
    return TwelveDataEmulator(now=NOW)


@pytest.fixture
def twelvedata_server(twelvedata: TwelveDataEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(twelvedata.app) as server:
        yield server


@pytest.fixture
def alpaca() -> AlpacaEmulator:
    return AlpacaEmulator(now=NOW)


@pytest.fixture
def alpaca_server(alpaca: AlpacaEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(alpaca.app) as server:
        yield server


@pytest.fixture
def stream_emulator(alpaca: AlpacaEmulator) -> AlpacaDataStreamEmulator:
    """Alpaca's market-data websocket, sharing the REST emulator's bars."""
    return AlpacaDataStreamEmulator(alpaca)


@pytest.fixture
def stream_server(stream_emulator: AlpacaDataStreamEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(stream_emulator.app) as server:
        yield server


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW, speed=0)


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


def make_collector(
    engine: AsyncEngine, provider: MarketDataProvider, clock: SimulatedClock, bus: InMemoryBus
) -> DataCollector:
    return DataCollector(
        store=MarketDataStore(engine),
        watchlist=WatchlistStore(engine),
        provider=provider,
        calendar=CALENDAR,
        clock=clock,
        bus=bus,
        cache=InProcessLatestBarCache(),
        base_timeframe=Timeframe.MINUTE1,
        default_watchlist=["AAPL"],
    )


def seed_rows(count: int) -> list[SeedBar]:
    """`count` Twelve Data minute bars from the 2024-01-02 open, rising 0.10 a minute."""
    rows = []
    for index in range(count):
        close = Decimal("190.00") + Decimal("0.10") * index
        rows.append(
            SeedBar(
                MARKET_OPEN + timedelta(minutes=index),
                close - Decimal("0.05"),
                close + Decimal("0.2"),
                close - Decimal("0.2"),
                close,
                1000 + index,
            )
        )
    return rows
