"""The executor in a process of its own, for the kill-and-restart test.

    python -m tests.integration.trade_executor.executor_process DATABASE_URL ALPACA_URL

Builds the broker from settings as the service does, reconciles as at start-up, then executes one
fixed approval (the same decision on every run, as a redelivery would bring it) and prints the
order's row as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import SecretStr

from trader.adapters.clock import WallClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.orders import OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.core.events import OrderApproved
from trader.runtime.brokers import build_broker
from trader.services.trade_executor.handlers import TradeExecutor
from trader.settings import BrokerKind, Settings

APPROVAL = OrderApproved(
    occurred_at=datetime(2024, 1, 2, 14, 59, tzinfo=UTC),
    signal_event_id="signal-crash",
    decision_id="decision-crash",
    symbol="AAPL",
    side="buy",
    quantity=Decimal(7),
    order_type="market",
    strategy_name="crash_test",
)


async def run(database_url: str, alpaca_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        broker=BrokerKind.ALPACA,
        alpaca_api_key=SecretStr("test-alpaca-key"),
        alpaca_secret_key=SecretStr("test-alpaca-secret"),
        alpaca_base_url=alpaca_url,
        executor_broker_timeout_seconds=60,
    )
    engine = create_engine(settings.effective_database_url)
    clock = WallClock()
    executor = TradeExecutor(
        broker=build_broker(settings, clock),
        orders=OrderStore(engine),
        positions=PositionStore(engine),
        trading_state=TradingStateStore(engine),
        clock=clock,
    )
    try:
        await executor.reconcile(startup=True)
        result = await executor.execute_approved(APPROVAL)
        assert result.order is not None
        print(json.dumps({"status": result.order.status.value, "id": result.order.id}), flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2]))
