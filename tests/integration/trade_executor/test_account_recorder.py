"""The executor's account recorder on either venue: a reading states the broker's account, and is in
step with the books only when the broker holds exactly what the books hold."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tests.integration.trade_executor.conftest import Books
from tests.integration.trade_executor.venues import Venue
from trader.adapters.calendar import XNYSCalendar
from trader.core.broker import OrderRequest
from trader.core.orders import OrderSide
from trader.services.trade_executor.account import AccountRecorder


def recorder_of(books: Books) -> AccountRecorder:
    executor = books.executor
    assert books.engine is not None
    return AccountRecorder(
        broker=executor.broker,
        engine=books.engine,
        clock=executor.clock,
        calendar=XNYSCalendar(),
        default_symbols=["AAPL"],
    )


async def test_a_reading_after_a_fill_states_the_brokers_account_in_step_with_the_books(
    books: Books, venue: Venue
) -> None:
    venue.set_price("AAPL", Decimal(100))
    recorder = recorder_of(books)
    await books.executor.execute(OrderRequest("acct-1", "AAPL", OrderSide.BUY, Decimal(10)))
    venue.trade()
    await books.executor.reconcile()

    snapshot = await recorder.record("after fill")

    account = await books.executor.broker.get_account()
    assert snapshot is not None and snapshot.in_step and snapshot.fills_through_id
    assert (snapshot.cash, snapshot.equity, snapshot.buying_power) == (
        account.cash,
        account.equity,
        account.buying_power,
    )
    assert (snapshot.long_market_value, snapshot.short_market_value) == (Decimal(1000), Decimal(0))
    assert snapshot.unrealized_pnl == Decimal(0) and snapshot.last_equity is not None
    stored = await recorder.store.latest(books.executor.clock.now(), in_step=True)
    assert stored is not None and stored == replace(snapshot, id=stored.id)


async def test_a_position_the_books_do_not_know_makes_the_reading_out_of_step(
    books: Books, venue: Venue
) -> None:
    venue.hold("AAPL", Decimal(5), Decimal(100))
    recorder = recorder_of(books)

    snapshot = await recorder.record("periodic")

    assert snapshot is not None and not snapshot.in_step
    assert await recorder.store.latest(books.executor.clock.now(), in_step=True) is None


async def test_the_assets_the_broker_knows_are_recorded_for_sizing(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal(100))
    recorder = recorder_of(books)

    assert await recorder.learn_assets() == (1, 1)

    known = await recorder.assets.of(["AAPL", "ZZZZ"])
    assert list(known) == ["AAPL"] and known["AAPL"].tradable
