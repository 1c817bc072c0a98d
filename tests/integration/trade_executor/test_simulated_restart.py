"""The simulated broker restarted from the books keeps trading: its new ids never repeat old ones."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.integration.trade_executor.test_executor_contract import approval
from tests.integration.trade_executor.venues import SimulatedVenue
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.orders import OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.runtime.brokers import restore_simulated_broker
from trader.services.trade_executor.handlers import ExecutorConfig, TradeExecutor


def executor_over(venue: SimulatedVenue, engine_url: str, clock: SimulatedClock) -> TradeExecutor:
    engine = create_engine(engine_url)
    return TradeExecutor(
        broker=venue.broker,
        orders=OrderStore(engine),
        positions=PositionStore(engine),
        trading_state=TradingStateStore(engine),
        clock=clock,
        bus=InMemoryBus(),
        config=ExecutorConfig(stuck_after=timedelta(minutes=2), retry_wait_seconds=0.01),
    )


async def test_orders_after_a_restart_get_fresh_ids_and_their_fills_are_booked(
    sqlite_url: str, clock: SimulatedClock
) -> None:
    before = SimulatedVenue(clock)
    first = executor_over(before, sqlite_url, clock)
    before.set_price("AAPL", Decimal(100))
    await first.execute_approved(approval())
    before.trade()
    await first.reconcile()

    after = SimulatedVenue(clock)
    await restore_simulated_broker(after.sim, create_engine(sqlite_url), Decimal(100_000))
    second = executor_over(after, sqlite_url, clock)
    after.set_price("AAPL", Decimal(100))
    clock.advance_by(timedelta(minutes=5))
    result = await second.execute_approved(approval(side="sell", quantity="4"))
    after.trade()
    report = await second.reconcile()

    orders = await second.orders.recent()
    assert result.order is not None
    assert len({order.broker_order_id for order in orders}) == 2
    assert [len(await second.orders.fills_of(order.id)) for order in orders] == [1, 1]
    held = await second.positions.get("AAPL")
    assert held is not None and held.position.quantity == Decimal(6)
    assert report.position_drifts == []
