"""Protective orders at the broker, on both venues (simulated broker; Alpaca through its emulator):
an approved entry with a stop-loss and a take-profit goes as a bracket, its legs are orders with a
parent in the books, a stop hit closes the position in both books and cancels the other leg, and
close-all leaves no leg working."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from sqlalchemy import select

from tests.integration.trade_executor.conftest import Books
from tests.integration.trade_executor.venues import Venue
from trader.adapters.db.stores.orders import StoredOrder
from trader.adapters.db.tables import trades
from trader.core.broker import OrderClass, OrderRequest, bracket_fields
from trader.core.events import OrderApproved, new_event_id
from trader.core.orders import OrderSide, OrderStatus, TimeInForce
from trader.services.trade_executor.position_close import close_position

SYMBOL = "AAPL"


def _approval(
    books: Books,
    stop: Decimal | None,
    target: Decimal | None,
    *,
    side: str = "buy",
    strategy_name: str = "protect",
) -> OrderApproved:
    return OrderApproved(
        event_id=new_event_id(),
        occurred_at=books.executor.clock.now(),
        signal_event_id=new_event_id(),
        decision_id=new_event_id(),
        symbol=SYMBOL,
        side=side,
        quantity=Decimal(10),
        order_type="market",
        strategy_name=strategy_name,
        stop_loss_price=stop,
        take_profit_price=target,
    )


async def _rows(books: Books) -> list[StoredOrder]:
    return await books.executor.orders.recent(limit=50)


async def _bracket_entered(books: Books, venue: Venue) -> tuple[StoredOrder, StoredOrder, StoredOrder]:
    venue.set_price(SYMBOL, Decimal(100))
    result = await books.executor.execute_approved(_approval(books, Decimal(95), Decimal(110)))
    assert result.order is not None and not result.refused, result
    entry = result.order
    assert entry.order_class is OrderClass.BRACKET and entry.time_in_force is TimeInForce.GTC
    assert (entry.stop_loss_price, entry.take_profit_price) == (Decimal(95), Decimal(110))
    legs = [row for row in await _rows(books) if row.parent_trade_id == entry.id]
    by_type = {leg.order_type.value: leg for leg in legs}
    assert sorted(by_type) == ["limit", "stop"], legs
    target, stop = by_type["limit"], by_type["stop"]
    assert (target.side, target.limit_price, target.quantity) == (OrderSide.SELL, Decimal(110), Decimal(10))
    assert (stop.side, stop.stop_price, stop.quantity) == (OrderSide.SELL, Decimal(95), Decimal(10))
    assert {leg.broker_order_id for leg in legs} <= {
        order.broker_order_id for order in await venue.broker.list_orders()
    }
    venue.trade()  # the entry fills at 100; its legs start working at the broker
    await books.executor.reconcile()
    positions = {p.symbol: p.quantity for p in await venue.broker.list_positions()}
    assert positions == {SYMBOL: Decimal(10)}
    working = {o.broker_order_id for o in await venue.broker.list_orders(open_only=True)}
    assert working == {target.broker_order_id, stop.broker_order_id}
    return entry, target, stop


async def test_a_bracket_entry_places_its_legs_and_a_stop_hit_closes_the_position_in_both_books(
    books: Books, venue: Venue
) -> None:
    _entry, target, stop = await _bracket_entered(books, venue)
    venue.set_price(SYMBOL, Decimal(94))  # through the stop
    venue.trade()
    await books.executor.reconcile()

    assert await venue.broker.list_positions() == []
    broker_orders = {o.broker_order_id: o for o in await venue.broker.list_orders()}
    assert broker_orders[stop.broker_order_id].status is OrderStatus.FILLED  # type: ignore[index]
    assert broker_orders[stop.broker_order_id].average_fill_price == Decimal(94)  # type: ignore[index]
    assert broker_orders[target.broker_order_id].status is OrderStatus.CANCELED  # type: ignore[index]
    ours = {row.id: row for row in await _rows(books)}
    assert ours[stop.id].status is OrderStatus.FILLED and ours[stop.id].filled_quantity == 10
    assert ours[target.id].status is OrderStatus.CANCELED
    held = {p.symbol: p.position.quantity for p in await books.executor.positions.all(include_flat=True)}
    assert held.get(SYMBOL, Decimal(0)) == 0
    fills = await books.executor.orders.fills_of(stop.id)
    assert [(f.side, f.quantity, f.price) for f in fills] == [(OrderSide.SELL, Decimal(10), Decimal(94))]


async def test_close_all_with_an_open_bracket_leaves_no_leg_working(books: Books, venue: Venue) -> None:
    _entry, target, stop = await _bracket_entered(books, venue)
    report = await books.executor.close_all()
    assert not report.cancel_errors and all(result.ok for result in report.results), report
    venue.trade()  # the closing order fills
    await books.executor.reconcile()

    assert await venue.broker.list_orders(open_only=True) == []
    assert await venue.broker.list_positions() == []
    ours = {row.id: row for row in await _rows(books)}
    assert ours[stop.id].status is OrderStatus.CANCELED and ours[target.id].status is OrderStatus.CANCELED
    assert all(row.status.is_terminal for row in ours.values()), [(r.id, r.status) for r in ours.values()]
    # One sale closed the position: no leg sold it a second time.
    sells = [row for row in ours.values() if row.side is OrderSide.SELL and row.filled_quantity > 0]
    assert [row.filled_quantity for row in sells] == [Decimal(10)]


async def test_a_signal_exit_of_a_bracketed_position_cancels_the_legs_before_it_sells(
    books: Books, venue: Venue
) -> None:
    _entry, target, stop = await _bracket_entered(books, venue)
    exit_ = _approval(books, None, None, side="sell", strategy_name="protect-exit")
    result = await books.executor.execute_approved(exit_)
    assert result.order is not None and not result.refused, result
    venue.trade()
    await books.executor.reconcile()
    assert await venue.broker.list_positions() == []
    assert await venue.broker.list_orders(open_only=True) == []
    ours = {row.id: row for row in await _rows(books)}
    assert ours[stop.id].status is OrderStatus.CANCELED and ours[target.id].status is OrderStatus.CANCELED
    assert ours[result.order.id].status is OrderStatus.FILLED


async def test_legs_are_rows_whose_parent_is_the_entry(books: Books, venue: Venue) -> None:
    entry, target, stop = await _bracket_entered(books, venue)
    assert books.engine is not None
    async with books.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(trades.c.id, trades.c.parent_trade_id).where(trades.c.parent_trade_id.is_not(None))
            )
        ).all()
    assert sorted(rows) == sorted([(target.id, entry.id), (stop.id, entry.id)])


async def test_a_leg_recorded_from_the_stream_before_the_answer_gets_its_parent_from_the_answer(
    books: Books, venue: Venue
) -> None:
    venue.set_price(SYMBOL, Decimal(100))
    request = OrderRequest(
        client_order_id="by-hand-bracket",
        symbol=SYMBOL,
        side=OrderSide.BUY,
        quantity=Decimal(5),
        **bracket_fields(Decimal(95), Decimal(110)),
    )
    answer = await venue.broker.submit_order(request)
    assert len(answer.legs) == 2 and all(
        leg.parent_broker_order_id == answer.broker_order_id for leg in answer.legs
    )
    order_books = books.executor.submission.books
    # A streamed update names the leg but not its entry.
    early = await order_books.import_order(replace(answer.legs[1], parent_broker_order_id=None))
    assert early.parent_trade_id is None
    entry = await order_books.import_order(replace(answer, legs=()))

    await order_books.import_legs([answer])

    legs = [row for row in await _rows(books) if row.id != entry.id]
    assert sorted(row.broker_order_id or "" for row in legs) == sorted(
        leg.broker_order_id for leg in answer.legs
    )
    assert {row.parent_trade_id for row in legs} == {entry.id}


async def test_an_operators_close_of_a_bracketed_position_cancels_its_legs_then_sells_once(
    books: Books, venue: Venue
) -> None:
    _entry, target, stop = await _bracket_entered(books, venue)
    closed = await close_position(books.executor, SYMBOL)
    assert closed.sent, closed
    assert set(closed.canceled_order_ids) == {target.id, stop.id}
    venue.trade()
    await books.executor.reconcile()
    assert await venue.broker.list_positions() == []
    assert await venue.broker.list_orders(open_only=True) == []
    ours = {row.id: row for row in await _rows(books)}
    assert ours[stop.id].status is OrderStatus.CANCELED and ours[target.id].status is OrderStatus.CANCELED


async def test_cancel_all_as_the_emergency_shutdown_calls_it_cancels_the_legs_in_both_books(
    books: Books, venue: Venue
) -> None:
    _entry, target, stop = await _bracket_entered(books, venue)
    report = await books.executor.cancel_all_open()
    assert report["errors"] == [] and report["canceled"] >= 2
    assert await venue.broker.list_orders(open_only=True) == []
    ours = {row.id: row for row in await _rows(books)}
    assert ours[stop.id].status is OrderStatus.CANCELED and ours[target.id].status is OrderStatus.CANCELED
    # The position stays (halting is not flattening) and no leg can sell it any more.
    venue.set_price(SYMBOL, Decimal(90))
    venue.trade()
    assert {p.symbol: p.quantity for p in await venue.broker.list_positions()} == {SYMBOL: Decimal(10)}


async def test_a_stop_alone_goes_as_an_oto_whose_one_leg_closes_the_position(
    books: Books, venue: Venue
) -> None:
    venue.set_price(SYMBOL, Decimal(100))
    result = await books.executor.execute_approved(_approval(books, Decimal(95), None))
    assert result.order is not None and not result.refused, result
    assert result.order.order_class is OrderClass.OTO
    (leg,) = [row for row in await _rows(books) if row.parent_trade_id == result.order.id]
    assert (leg.order_type.value, leg.side, leg.stop_price) == ("stop", OrderSide.SELL, Decimal(95))
    venue.trade()
    await books.executor.reconcile()
    assert {p.symbol: p.quantity for p in await venue.broker.list_positions()} == {SYMBOL: Decimal(10)}

    venue.set_price(SYMBOL, Decimal(94))
    venue.trade()
    await books.executor.reconcile()

    assert await venue.broker.list_positions() == []
    ours = {row.id: row for row in await _rows(books)}
    assert ours[leg.id].status is OrderStatus.FILLED and ours[leg.id].average_fill_price == Decimal(94)
