"""Closing one position (the dashboard's "Close…"), on both brokers: the symbol's open orders are
cancelled, one market order for the broker's quantity goes through the exactly-once path, and
the books end equal to the broker's; refusals say why and send nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.integration.trade_executor.conftest import Books
from tests.integration.trade_executor.test_executor_contract import (
    SIGNAL_AT,
    approval,
    assert_books_equal_broker,
)
from tests.integration.trade_executor.venues import Venue
from trader.core.orders import OrderSide, OrderStatus, OrderType
from trader.core.risk.state import StateChange, TradingState
from trader.services.trade_executor.position_close import (
    OPERATOR_CLOSE,
    CloseAlreadyWorkingError,
    NoPositionError,
    close_position,
)


async def _hold_ten_aapl(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("100"))
    await books.executor.execute_approved(approval())
    venue.trade()
    await books.executor.reconcile()


async def test_close_cancels_the_symbols_orders_then_sells_what_the_broker_holds(
    books: Books, venue: Venue
) -> None:
    await _hold_ten_aapl(books, venue)
    resting = await books.executor.execute_approved(
        replace(
            approval(side="sell", quantity="4", order_type="limit", limit_price=Decimal("150")),
            signal_event_id="signal-2",
            decision_id="decision-2",
            occurred_at=SIGNAL_AT + timedelta(minutes=5),
        )
    )
    assert resting.order is not None and resting.order.status is OrderStatus.ACCEPTED
    orders_before = venue.order_count()

    closed = await close_position(books.executor, "AAPL")

    assert closed.sent and closed.refusal is None
    assert closed.quantity == Decimal(10)
    assert closed.canceled_order_ids == (resting.order.id,)
    assert closed.order is not None
    assert (closed.order.side, closed.order.order_type, closed.order.quantity) == (
        OrderSide.SELL,
        OrderType.MARKET,
        Decimal(10),
    )
    assert closed.order.strategy_name == OPERATOR_CLOSE
    assert venue.order_count() == orders_before + 1
    canceled = await books.executor.orders.get(resting.order.id)
    assert canceled is not None and canceled.status is OrderStatus.CANCELED
    # A second click while the close is still working sends nothing more.
    with pytest.raises(CloseAlreadyWorkingError, match="already working"):
        await close_position(books.executor, "AAPL")
    assert venue.order_count() == orders_before + 1

    venue.trade()
    await books.executor.reconcile()
    assert await books.executor.positions.all() == []
    await assert_books_equal_broker(books, venue)


async def test_nothing_held_is_a_clear_refusal(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("100"))
    with pytest.raises(NoPositionError, match="no open position in AAPL"):
        await close_position(books.executor, "AAPL")
    assert venue.order_count() == 0


async def test_halted_trading_records_the_refused_close_and_sends_nothing(books: Books, venue: Venue) -> None:
    await _hold_ten_aapl(books, venue)
    await books.executor.trading_state.record(
        StateChange(TradingState.ACTIVE, TradingState.HALTED, "drill", "tester", SIGNAL_AT)
    )
    orders_before = venue.order_count()

    closed = await close_position(books.executor, "AAPL")

    assert not closed.sent
    assert closed.refusal == "trading state is HALTED: no new orders"
    assert closed.order is not None and closed.order.status is OrderStatus.REJECTED
    assert venue.order_count() == orders_before
    await assert_books_equal_broker(books, venue)
