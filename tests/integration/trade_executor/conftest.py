"""Fixtures: an executor on a fresh SQLite database over either broker venue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.server import EmulatorServer
from tests.integration.trade_executor.venues import MARKET_OPEN_AT, AlpacaVenue, SimulatedVenue, Venue
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.orders import OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.services.trade_executor.handlers import ExecutorConfig, TradeExecutor


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(MARKET_OPEN_AT, speed=0)


@pytest.fixture
def alpaca() -> AlpacaEmulator:
    return AlpacaEmulator(now=MARKET_OPEN_AT)


@pytest.fixture
def alpaca_server(alpaca: AlpacaEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(alpaca.app, shutdown_timeout_seconds=1) as server:
        yield server


@pytest.fixture(params=["simulated", "alpaca"])
def venue(request: pytest.FixtureRequest, clock: SimulatedClock) -> Venue:
    if request.param == "simulated":
        return SimulatedVenue(clock)
    emulator: AlpacaEmulator = request.getfixturevalue("alpaca")
    server: EmulatorServer = request.getfixturevalue("alpaca_server")
    return AlpacaVenue(emulator, server.base_url)


@dataclass
class Books:
    executor: TradeExecutor
    bus: InMemoryBus
    engine: AsyncEngine | None = None


@pytest.fixture
async def books(sqlite_url: str, venue: Venue, clock: SimulatedClock) -> AsyncIterator[Books]:
    engine = create_engine(sqlite_url)
    bus = InMemoryBus()
    executor = TradeExecutor(
        broker=venue.broker,
        orders=OrderStore(engine),
        positions=PositionStore(engine),
        trading_state=TradingStateStore(engine),
        clock=clock,
        bus=bus,
        config=ExecutorConfig(stuck_after=timedelta(minutes=2), retry_wait_seconds=0.01),
    )
    yield Books(executor, bus, engine)
    await bus.close()
    await engine.dispose()
