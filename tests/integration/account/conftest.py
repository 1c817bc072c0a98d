"""A paper session on the broker's account: the Alpaca REST emulator behind the real AlpacaBroker,
the executor, its account recorder and command handler, and the risk manager, over one database
(SQLite and PostgreSQL) and the in-process bus, on a stopped clock in the regular session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.server import EmulatorServer
from tests.integration.risk_manager.books import insert_daily_bars, signal, wavy_closes
from trader.adapters.alpaca.broker import AlpacaBroker
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.audit import AuditStore
from trader.adapters.db.stores.orders import OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.adapters.db.tables import account_snapshots
from trader.core.events import OrderApproved
from trader.core.topics import DECISIONS, EXECUTOR_COMMANDS, ORDERS, TRADING_STATE
from trader.services.common.resources import Resources
from trader.services.risk_manager.app import build_risk_manager
from trader.services.risk_manager.handlers import Judgement, RiskManager
from trader.services.trade_executor.account import ACCOUNT_GROUP, AccountRecorder
from trader.services.trade_executor.commands import COMMANDS_GROUP, CommandHandler
from trader.services.trade_executor.handlers import ExecutorConfig, TradeExecutor
from trader.settings import Settings

# Tuesday 2 January 2024, 10:00 in New York: the regular session is open.
OPEN_AT = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
PROBE = "probe"


@dataclass
class PaperSession:
    emulator: AlpacaEmulator
    engine: AsyncEngine
    bus: InMemoryBus
    clock: SimulatedClock
    executor: TradeExecutor
    recorder: AccountRecorder
    commands: CommandHandler
    manager: RiskManager

    async def judge(self, symbol: str, direction: str, price: Decimal, **extra: object) -> Judgement:
        return await self.manager.judge(signal(symbol, direction, price, self.clock.now(), **extra))  # type: ignore[arg-type]

    async def execute_decisions(self) -> list[OrderApproved]:
        """What the executor's consumer does with the risk manager's approvals, then the executor's
        look at the broker (the emulator fills market orders as they arrive)."""
        deliveries = await self.bus.read(DECISIONS, PROBE, "test", count=100, block_ms=50)
        approved = [d.event for d in deliveries if isinstance(d.event, OrderApproved)]
        await self.executor.execute_approved_batch(approved)
        await self.executor.reconcile()
        return approved

    async def snapshot_count(self) -> int:
        async with self.engine.connect() as connection:
            return int(
                (await connection.execute(select(func.count()).select_from(account_snapshots))).scalar_one()
            )

    async def wait_for(
        self, condition: Callable[[], Awaitable[bool]], what: str, seconds: float = 60
    ) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while not await condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    def move_on(self, delta: timedelta) -> None:
        self.clock.advance_by(delta)
        self.emulator.set_now(self.clock.now())


def paper_settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        api_token="paper-admin-token-" + "q" * 30,
        api_secret_key="s" * 40,
        allow_unauthenticated_loopback=False,
        risk_sector_map_path=tmp_path / "config" / "sector_map.csv",
        broker="alpaca",
        alpaca_api_key="test-alpaca-key",
        alpaca_secret_key="test-alpaca-secret",
        simulated_starting_cash=Decimal(100_000),
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
def emulator() -> AlpacaEmulator:
    emulator = AlpacaEmulator(now=OPEN_AT, cash=Decimal(30_000))
    emulator.fill_on_submit = True
    for symbol in ("AAPL", "MSFT"):
        emulator.set_price(symbol, Decimal(100))
    return emulator


@pytest.fixture
def server(emulator: AlpacaEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator.app, shutdown_timeout_seconds=1) as running:
        yield running


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
async def session(
    engine: AsyncEngine,
    emulator: AlpacaEmulator,
    server: EmulatorServer,
    tmp_path: Path,
    settings_overrides: dict[str, object],
) -> AsyncIterator[PaperSession]:
    bus = InMemoryBus()
    clock = SimulatedClock(OPEN_AT, speed=0)
    groups = (
        (PROBE, DECISIONS),
        (ACCOUNT_GROUP, ORDERS),
        (COMMANDS_GROUP, EXECUTOR_COMMANDS),
        ("notifications", TRADING_STATE),
    )
    for group, topic in groups:
        await bus.ensure_group(topic, group)
    broker = AlpacaBroker(emulator.api_key, emulator.secret_key, base_url=server.base_url)
    executor = TradeExecutor(
        broker=broker,
        orders=OrderStore(engine),
        positions=PositionStore(engine),
        trading_state=TradingStateStore(engine),
        clock=clock,
        bus=bus,
        config=ExecutorConfig(retry_wait_seconds=0.01),
    )
    recorder = AccountRecorder(
        broker=broker, engine=engine, clock=clock, calendar=XNYSCalendar(), default_symbols=("AAPL", "MSFT")
    )
    commands = CommandHandler(executor, TradingStateStore(engine), AuditStore(engine), clock)
    http = httpx.AsyncClient()
    resources = Resources(
        settings=paper_settings(tmp_path, **settings_overrides),
        engine=engine,
        bus=bus,
        clock=clock,
        http=http,
    )
    manager = build_risk_manager(resources, environment={})
    await manager.prepare()
    for symbol in ("AAPL", "MSFT"):
        # A month of daily closes ending at 100, the price the emulator fills at: marks equal its own.
        await insert_daily_bars(engine, symbol, [*wavy_closes(29), Decimal(100)], OPEN_AT - timedelta(days=1))
    try:
        yield PaperSession(emulator, engine, bus, clock, executor, recorder, commands, manager)
    finally:
        await http.aclose()
        await bus.close()
