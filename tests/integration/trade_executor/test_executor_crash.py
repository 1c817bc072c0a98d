"""kill -9 between persisting the intent and the broker's answer, restart: one order, books equal."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.faults import Fault
from tests.emulators.server import EmulatorServer
from tests.integration.trade_executor.venues import MARKET_OPEN_AT
from trader.adapters.alpaca.broker import AlpacaBroker
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.orders import OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.adapters.db.tables import trades
from trader.core.orders import OrderStatus
from trader.services.trade_executor.handlers import TradeExecutor

ROOT = Path(__file__).resolve().parents[3]


def start_executor(database_url: str, alpaca_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.trade_executor.executor_process", database_url, alpaca_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ENVIRONMENT": "test"},
    )


async def pending_rows(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(trades.c.status))).scalars())


async def test_killed_while_waiting_for_the_broker_then_restarted(engine: AsyncEngine) -> None:
    alpaca = AlpacaEmulator(now=MARKET_OPEN_AT)
    alpaca.set_price("AAPL", Decimal("100"))
    # The broker creates the order, then holds its answer long enough for us to kill the client.
    alpaca.inject(Fault(delay_seconds=30, after_processing=True, method="POST", path="/v2/orders"))
    database_url = engine.url.render_as_string(hide_password=False)
    with EmulatorServer(alpaca.app, shutdown_timeout_seconds=1) as server:
        first = start_executor(database_url, server.base_url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if alpaca.order_count() == 1 and await pending_rows(engine) == ["pending"]:
                break
            assert first.poll() is None, first.communicate()
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert await pending_rows(engine) == ["pending"]  # the intent survived, the answer never came

        second = start_executor(database_url, server.base_url)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
        assert '"status": "accepted"' in out

        alpaca.fill_pending()
        clock = SimulatedClock(MARKET_OPEN_AT, speed=0)
        executor = TradeExecutor(
            broker=AlpacaBroker(alpaca.api_key, alpaca.secret_key, base_url=server.base_url),
            orders=OrderStore(engine),
            positions=PositionStore(engine),
            trading_state=TradingStateStore(engine),
            clock=clock,
        )
        report = await executor.reconcile()

        assert alpaca.order_count() == 1
        posts = [r for r in alpaca.requests if r.method == "POST" and r.path == "/v2/orders"]
        assert len(posts) == 1
        (order,) = await executor.orders.recent()
        assert order.status is OrderStatus.FILLED and order.filled_quantity == 7
        (position,) = await executor.positions.all()
        assert position.position.quantity == alpaca.position_qty("AAPL") == 7
        assert report.position_drifts == [] and report.order_drifts == []
