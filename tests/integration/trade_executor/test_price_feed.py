"""The simulated broker's price feed: bars matched in memory, what they did taken into the books
in one pass; a bar handed out twice fills once, and a failed pass is made good by the next."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.trade_executor.test_executor_contract import approval
from tests.integration.trade_executor.venues import MARKET_OPEN_AT
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.orders import OrderStore, StoredOrder
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.events import BarClosed, bar_closed_event
from trader.core.fills import FillModel
from trader.core.market import Bar, Timeframe
from trader.core.orders import OrderStatus
from trader.services.trade_executor.handlers import TradeExecutor
from trader.services.trade_executor.price_feed import SimulatedPriceFeed


class FailingOnce(OrderStore):
    """The books cannot be read once (the database went away for a moment)."""

    failures = 1

    async def by_broker_order_ids(self, broker_order_ids: Collection[str]) -> dict[str, StoredOrder]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database unavailable")
        return await super().by_broker_order_ids(broker_order_ids)


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    built = create_engine(sqlite_url)
    yield built
    await built.dispose()


def bar_event(symbol: str, at_minute: int, price: str, volume: str = "100") -> BarClosed:
    at = MARKET_OPEN_AT + timedelta(minutes=at_minute)
    value = Decimal(price)
    bar = Bar(symbol, Timeframe.MINUTE1, at, value, value, value, value, Decimal(volume))
    return bar_closed_event(bar, at + timedelta(minutes=1))


def feed_over(
    engine: AsyncEngine, orders: OrderStore, base: Timeframe | None = None
) -> tuple[SimulatedPriceFeed, TradeExecutor]:
    clock = SimulatedClock(MARKET_OPEN_AT, speed=0)
    broker = SimulatedBroker(
        clock,
        XNYSCalendar(),
        starting_cash=Decimal(100_000),
        symbols=["AAPL"],
        fill_model=FillModel.frictionless(),  # the settlement rules on exact prices
    )
    executor = TradeExecutor(
        broker=broker,
        orders=orders,
        positions=PositionStore(engine),
        trading_state=TradingStateStore(engine),
        clock=clock,
    )
    return SimulatedPriceFeed(broker, executor, base), executor


async def test_a_bar_matched_twice_fills_once(engine: AsyncEngine) -> None:
    feed, executor = feed_over(engine, OrderStore(engine))
    result = await executor.execute_approved(approval(quantity="30"))
    assert result.order is not None
    # 10% of a 100-share bar: each bar fills 10 of the 30.
    feed.match(bar_event("AAPL", 0, "100"))
    feed.match(bar_event("AAPL", 0, "100"))  # handed out again after a failed batch
    await feed.settle()

    order = await executor.orders.get(result.order.id)
    assert order is not None and order.filled_quantity == Decimal(10)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    (position,) = await executor.positions.all()
    assert position.position.quantity == Decimal(10)


async def test_a_failed_settlement_is_made_good_by_the_next(engine: AsyncEngine) -> None:
    orders = FailingOnce(engine)
    feed, executor = feed_over(engine, orders)
    result = await executor.execute_approved(approval(quantity="10"))
    assert result.order is not None
    feed.match(bar_event("AAPL", 0, "100", volume="1000"))

    with pytest.raises(ConnectionError):
        await feed.settle()
    await feed.settle()  # nothing new was matched; what the failed pass missed is taken now

    order = await executor.orders.get(result.order.id)
    assert order is not None and order.status is OrderStatus.FILLED
    (fill,) = await executor.orders.fills_of(order.id)
    assert (fill.quantity, fill.price) == (Decimal(10), Decimal(100))
    (position,) = await executor.positions.all()
    assert position.position.quantity == Decimal(10)


async def test_bars_built_from_the_base_timeframe_are_not_matched_again(engine: AsyncEngine) -> None:
    feed, executor = feed_over(engine, OrderStore(engine), base=Timeframe.MINUTE1)
    result = await executor.execute_approved(approval(quantity="30"))
    assert result.order is not None
    # The 5-minute bar of the same minutes, announced after them by a live collector: its volume is
    # that of the minutes already matched, so matching it would fill shares that never traded.
    minute = bar_event("AAPL", 0, "100")
    five = Bar("AAPL", Timeframe.MINUTE5, minute.bar_at, *(Decimal(100),) * 4, Decimal(500))
    feed.match(bar_closed_event(five, minute.bar_at + timedelta(minutes=5)))
    await feed.settle()
    order = await executor.orders.get(result.order.id)
    assert order is not None and order.filled_quantity == 0
    feed.match(minute)
    await feed.settle()
    order = await executor.orders.get(result.order.id)
    assert order is not None and order.filled_quantity == Decimal(10)
