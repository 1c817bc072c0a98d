"""Daily bars replayed after the close: an order sent after a session's close waits for the next
session's bar, and a fill is stamped when its price traded (the bar's open), not when the bar arrived."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.broker import OrderRequest
from trader.core.fills import FillModel, FillRule
from trader.core.market import Bar, Timeframe
from trader.core.orders import OrderSide, OrderStatus

CALENDAR = XNYSCalendar()
FREE = FillModel.frictionless()  # the timing rules on exact prices
MONDAY = date(2010, 1, 4)
TUESDAY = date(2010, 1, 5)


def daily_bar(day: date, open_: str, close: str) -> Bar:
    session = CALENDAR.session_for(day)
    assert session is not None
    return Bar(
        "AAPL",
        Timeframe.DAY1,
        session.open_at,
        Decimal(open_),
        Decimal(max(open_, close, key=Decimal)),
        Decimal(min(open_, close, key=Decimal)),
        Decimal(close),
        Decimal(1_000_000),
    )


def close_of(day: date) -> datetime:
    session = CALENDAR.session_for(day)
    assert session is not None
    return session.close_at


def buy() -> OrderRequest:
    return OrderRequest(client_order_id="parity-1", symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(10))


async def test_an_order_sent_after_the_close_is_not_filled_by_that_session_bar_arriving_late() -> None:
    clock = SimulatedClock(close_of(MONDAY) - timedelta(days=1), speed=0)
    broker = SimulatedBroker(clock, CALENDAR, starting_cash=Decimal(100_000), fill_model=FREE)
    broker.on_bar(daily_bar(date(2009, 12, 31), "30", "30"))
    clock.advance_to(close_of(MONDAY) + timedelta(minutes=3))
    order = await broker.submit_order(buy())

    # Monday's bar reaches the broker after the order (the executor's price feed was slower).
    assert broker.on_bar(daily_bar(MONDAY, "30.50", "31")) == []
    assert (await broker.get_order(order.broker_order_id)).status is OrderStatus.ACCEPTED

    clock.advance_to(close_of(TUESDAY) + timedelta(minutes=7))
    fills = broker.on_bar(daily_bar(TUESDAY, "31.25", "32"))
    assert [(fill.price, fill.quantity) for fill in fills] == [(Decimal("31.25"), Decimal(10))]


async def test_a_fill_at_the_open_is_stamped_at_the_open_whenever_the_bar_arrives() -> None:
    stamps = []
    for late in (timedelta(minutes=1), timedelta(hours=5)):
        clock = SimulatedClock(close_of(MONDAY) + timedelta(minutes=2), speed=0)
        broker = SimulatedBroker(clock, CALENDAR, starting_cash=Decimal(100_000), fill_model=FREE)
        broker.on_bar(daily_bar(MONDAY, "30", "30"))
        await broker.submit_order(buy())
        clock.advance_to(close_of(TUESDAY) + late)
        (fill,) = broker.on_bar(daily_bar(TUESDAY, "31.25", "32"))
        stamps.append(fill.filled_at)
    tuesday = CALENDAR.session_for(TUESDAY)
    assert tuesday is not None
    assert stamps == [tuesday.open_at, tuesday.open_at]


async def test_under_the_close_rule_a_fill_is_stamped_at_the_close() -> None:
    clock = SimulatedClock(close_of(MONDAY) + timedelta(minutes=2), speed=0)
    broker = SimulatedBroker(
        clock, CALENDAR, starting_cash=Decimal(100_000), fill_model=FillModel.frictionless(FillRule.CLOSE)
    )
    broker.on_bar(daily_bar(MONDAY, "30", "30"))
    await broker.submit_order(buy())
    clock.advance_to(datetime(2010, 1, 6, 3, tzinfo=UTC))
    (fill,) = broker.on_bar(daily_bar(TUESDAY, "31.25", "32"))
    assert (fill.price, fill.filled_at) == (Decimal(32), close_of(TUESDAY))
