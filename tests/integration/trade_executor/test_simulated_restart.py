"""The simulated broker restarted from the books keeps trading: its new ids never repeat old ones."""

from __future__ import annotations

from dataclasses import replace
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
from trader.core.market import Bar, Timeframe
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


async def test_a_brackets_legs_survive_a_restart_linked_one_stop_fill_closes_and_cancels_the_other(
    sqlite_url: str, clock: SimulatedClock
) -> None:
    before = SimulatedVenue(clock)
    first = executor_over(before, sqlite_url, clock)
    before.set_price("AAPL", Decimal(100))
    entry = replace(approval(), stop_loss_price=Decimal(95), take_profit_price=Decimal(110))
    await first.execute_approved(entry)
    before.trade()
    await first.reconcile()
    assert {p.symbol: p.quantity for p in await before.sim.list_positions()} == {"AAPL": Decimal(10)}

    after = SimulatedVenue(clock)
    await restore_simulated_broker(after.sim, create_engine(sqlite_url), Decimal(100_000))
    second = executor_over(after, sqlite_url, clock)
    # A bar that touches both legs: the pair is decided once (stop first), never both sold.
    clock.advance_by(timedelta(minutes=5))
    start = clock.now()
    clock.advance_by(timedelta(minutes=1))
    after.sim.on_bar(
        Bar(
            "AAPL",
            Timeframe.MINUTE1,
            start,
            Decimal(100),
            Decimal(111),
            Decimal(94),
            Decimal(100),
            Decimal(10**6),
        )
    )
    await second.reconcile()

    assert await after.sim.list_positions() == []
    legs = [order for order in await second.orders.recent() if order.parent_trade_id is not None]
    assert sorted((leg.order_type.value, leg.status.value) for leg in legs) == [
        ("limit", "canceled"),
        ("stop", "filled"),
    ]
