"""One contract, both brokers: the executor over the simulated broker and over Alpaca (emulated HTTP)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from tests.integration.trade_executor.conftest import Books
from tests.integration.trade_executor.venues import Venue
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.system_flags import MaintenanceGate, SystemFlagsStore
from trader.adapters.db.tables import risk_decisions, signals, trades
from trader.core.broker import Broker, BrokerOrder, OrderRequest
from trader.core.client_order_ids import make_client_order_id
from trader.core.events import OrderApproved
from trader.core.orders import OrderSide, OrderStatus, OrderType
from trader.core.risk.state import StateChange, TradingState

SIGNAL_AT = datetime(2024, 1, 2, 14, 59, tzinfo=UTC)


def approval(symbol: str = "AAPL", side: str = "buy", quantity: str = "10", **extra: object) -> OrderApproved:
    return OrderApproved(
        occurred_at=SIGNAL_AT,
        signal_event_id="signal-1",
        decision_id="decision-1",
        symbol=symbol,
        side=side,
        quantity=Decimal(quantity),
        order_type=str(extra.pop("order_type", "market")),
        strategy_name="sma_crossover",
        **extra,  # type: ignore[arg-type]
    )


async def assert_books_equal_broker(books: Books, venue: Venue) -> None:
    theirs = {p.symbol: p.quantity for p in await venue.broker.list_positions() if p.quantity != 0}
    ours = {p.symbol: p.position.quantity for p in await books.executor.positions.all()}
    assert ours == theirs
    for order in await books.executor.orders.recent():
        if order.broker_order_id is None:
            continue
        at_broker = await venue.broker.get_order(order.broker_order_id)
        assert (order.status, order.filled_quantity) == (at_broker.status, at_broker.filled_quantity)


async def test_an_approved_market_order_is_sent_once_filled_and_booked(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("190.10"))

    result = await books.executor.execute_approved(approval())
    venue.trade()
    await books.executor.reconcile()
    again = await books.executor.reconcile()

    assert result.order is not None and result.refusal is None
    order = await books.executor.orders.get(result.order.id)
    assert order is not None
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == Decimal(10)
    assert order.average_fill_price == Decimal("190.10")
    assert again.fills_recorded == 0 and again.position_drifts == []
    (fill,) = await books.executor.orders.fills_of(order.id)
    assert (fill.quantity, fill.price) == (Decimal(10), Decimal("190.10"))
    (position,) = await books.executor.positions.all()
    assert (position.position.quantity, position.position.average_cost) == (Decimal(10), Decimal("190.10"))
    assert venue.order_count() == 1
    await assert_books_equal_broker(books, venue)


async def test_a_redelivered_approval_never_sends_a_second_order(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("50"))

    first = await books.executor.execute_approved(approval())
    again = await books.executor.execute_approved(approval())

    assert first.order is not None and again.order is not None
    assert again.order.id == first.order.id
    assert venue.order_count() == 1


async def test_bad_input_is_refused_before_the_broker_with_a_message(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("50"))

    unknown = await books.executor.execute_approved(approval(symbol="NOSUCH"))
    negative = await books.executor.execute_approved(approval(quantity="-5"))
    no_price = await books.executor.execute_approved(approval(order_type="limit"))

    assert unknown.refusal == "unknown symbol NOSUCH"
    assert negative.refusal is not None and "quantity must be positive, got -5" in negative.refusal
    assert no_price.refusal is not None and "a limit order needs a limit price" in no_price.refusal
    assert venue.order_count() == 0
    rejected = await books.executor.orders.recent(statuses=[OrderStatus.REJECTED])
    assert sorted(order.error_message or "" for order in rejected) == sorted(
        [unknown.refusal, no_price.refusal]
    )


async def test_halted_trading_sends_nothing_new(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("50"))
    await books.executor.trading_state.record(
        StateChange(TradingState.ACTIVE, TradingState.HALTED, "test", "tester", SIGNAL_AT)
    )

    result = await books.executor.execute_approved(approval())

    assert result.refused and result.refusal == "trading state is HALTED: no new orders"
    assert venue.order_count() == 0


async def test_maintenance_mode_sends_nothing_new(books: Books, venue: Venue, sqlite_url: str) -> None:
    venue.set_price("AAPL", Decimal("50"))
    engine = create_engine(sqlite_url)
    flags = SystemFlagsStore(engine)
    await flags.set_maintenance_mode(enabled=True, reason="disk swap", changed_by="ops", changed_at=SIGNAL_AT)
    books.executor.maintenance = MaintenanceGate(flags, ttl_seconds=0)

    refused = await books.executor.execute_approved(approval())

    assert refused.refused and refused.refusal == "maintenance mode (read-only): no new orders (disk swap)"
    assert venue.order_count() == 0
    await flags.set_maintenance_mode(enabled=False, reason="done", changed_by="ops", changed_at=SIGNAL_AT)
    # The refused intent is final for its signal; the next signal trades.
    later = replace(approval(), occurred_at=SIGNAL_AT + timedelta(days=1), signal_event_id="signal-2")
    sent = await books.executor.execute_approved(later)
    assert not sent.refused and venue.order_count() == 1
    await engine.dispose()


async def test_limit_order_rests_and_can_be_canceled(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("100"))
    result = await books.executor.execute_approved(approval(order_type="limit", limit_price=Decimal("90")))
    assert result.order is not None
    venue.trade()
    resting = await books.executor.orders.get(result.order.id)
    assert resting is not None and resting.status is OrderStatus.ACCEPTED

    canceled = await books.executor.cancel(result.order.id)

    assert canceled.status is OrderStatus.CANCELED
    await assert_books_equal_broker(books, venue)


async def test_close_all_reports_the_failing_symbol_and_closes_the_rest(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("100"))
    venue.set_price("MSFT", Decimal("300"))
    for symbol in ("AAPL", "MSFT"):
        request = OrderRequest(
            client_order_id=make_client_order_id("manual", symbol, SIGNAL_AT, "buy"),
            symbol=symbol,
            side=OrderSide.BUY,
            quantity=Decimal(5),
        )
        await books.executor.execute(request)
    venue.trade()
    await books.executor.reconcile()
    resting = await books.executor.execute(
        OrderRequest(
            client_order_id="manual-aapl-resting",
            symbol="AAPL",
            side=OrderSide.BUY,
            quantity=Decimal(1),
            order_type=OrderType.LIMIT,
            limit_price=Decimal(1),
        )
    )
    venue.fail_closing("MSFT")

    report = await books.executor.close_all()
    venue.trade()
    await books.executor.reconcile()

    by_symbol = {result.symbol: result for result in report.results}
    assert by_symbol["AAPL"].ok and by_symbol["AAPL"].order is not None
    assert not by_symbol["MSFT"].ok
    assert by_symbol["MSFT"].status_code == 403 and by_symbol["MSFT"].error
    assert report.canceled_orders == 1
    assert resting.order is not None
    canceled = await books.executor.orders.get(resting.order.id)
    assert canceled is not None and canceled.status is OrderStatus.CANCELED
    positions = {p.symbol: p.position.quantity for p in await books.executor.positions.all()}
    assert positions == {"MSFT": Decimal(5)}
    await assert_books_equal_broker(books, venue)


async def test_drift_is_repaired_from_the_broker_and_moves_trading_to_reducing(
    books: Books, venue: Venue
) -> None:
    venue.hold("IBM", Decimal(100), Decimal(150))

    report = await books.executor.reconcile()

    assert report.position_drifts == ["IBM: books 0, broker 100"]
    assert report.drift_notional == Decimal(15000)
    assert report.state_changed_to == "reducing"
    assert await books.executor.trading_state.current_state() is TradingState.REDUCING
    await assert_books_equal_broker(books, venue)
    # REDUCING lets a sale of the held shares through and refuses a new buy.
    buy = await books.executor.execute_approved(approval(symbol="IBM"))
    sell = await books.executor.execute_approved(approval(symbol="IBM", side="sell", quantity="40"))
    assert buy.refusal is not None and "REDUCING" in buy.refusal
    assert sell.refusal is None and sell.order is not None


async def test_the_order_row_links_its_signal_and_risk_decision(
    books: Books, venue: Venue, sqlite_url: str
) -> None:
    venue.set_price("AAPL", Decimal("190.10"))
    engine = create_engine(sqlite_url)
    async with engine.begin() as connection:
        signal_id = (
            await connection.execute(
                insert(signals).returning(signals.c.id),
                {
                    "event_id": "signal-1",
                    "strategy_name": "sma_crossover",
                    "symbol": "AAPL",
                    "timeframe": "1day",
                    "bar_timestamp": SIGNAL_AT,
                    "direction": "buy",
                    "strength": Decimal(1),
                    "price": Decimal(190),
                    "timestamp": SIGNAL_AT,
                },
            )
        ).scalar_one()
        decision_id = (
            await connection.execute(
                insert(risk_decisions).returning(risk_decisions.c.id),
                {
                    "decision_id": "decision-1",
                    "signal_event_id": "signal-1",
                    "symbol": "AAPL",
                    "side": "buy",
                    "quantity": Decimal(10),
                    "decision": "approved",
                    "reasons": [],
                    "trading_state": "active",
                    "timestamp": SIGNAL_AT,
                },
            )
        ).scalar_one()

    result = await books.executor.execute_approved(approval())
    assert result.order is not None

    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(trades.c.signal_id, trades.c.risk_decision_id).where(trades.c.id == result.order.id)
            )
        ).one()
    await engine.dispose()
    assert (row.signal_id, row.risk_decision_id) == (signal_id, decision_id)


async def test_an_order_placed_at_the_broker_by_hand_is_imported_once(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("100"))
    ours = await books.executor.execute_approved(approval(order_type="limit", limit_price=Decimal("90")))
    by_hand = await venue.broker.submit_order(
        OrderRequest(
            client_order_id="placed-by-hand-1",
            symbol="AAPL",
            side=OrderSide.BUY,
            quantity=Decimal(5),
            order_type=OrderType.LIMIT,
            limit_price=Decimal(80),
        )
    )

    first = await books.executor.reconcile()
    second = await books.executor.reconcile()

    assert (first.orders_imported, second.orders_imported) == (1, 0)
    imported = await books.executor.orders.by_broker_order_id(by_hand.broker_order_id)
    assert imported is not None and imported.client_order_id == "placed-by-hand-1"
    assert ours.order is not None and ours.order.id != imported.id
    assert len(await books.executor.orders.recent()) == 2


class IntentsCountedAtSubmission:
    """The venue's broker, noting how many orders the books hold each time one is sent."""

    def __init__(self, broker: Broker, books: Books) -> None:
        self._broker = broker
        self._books = books
        self.rows_at_submission: list[int] = []

    async def submit_order(self, request: OrderRequest) -> BrokerOrder:
        self.rows_at_submission.append(len(await self._books.executor.orders.recent()))
        return await self._broker.submit_order(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)


async def test_a_batch_records_every_intent_before_sending_and_sends_each_order_once(
    books: Books, venue: Venue
) -> None:
    venue.set_price("AAPL", Decimal("100"))
    venue.set_price("MSFT", Decimal("300"))
    counted = IntentsCountedAtSubmission(venue.broker, books)
    books.executor.broker = counted  # type: ignore[assignment]
    aapl = approval()
    msft = replace(approval("MSFT", quantity="3"), signal_event_id="signal-2", decision_id="decision-2")
    unknown = replace(approval("NOSUCH"), signal_event_id="signal-3", decision_id="decision-3")

    results = await books.executor.execute_approved_batch([aapl, msft, aapl, unknown])

    assert counted.rows_at_submission == [3, 3]  # AAPL, MSFT and the refusal, before the first send
    assert venue.order_count() == 2
    first, second, again, refused = results
    assert first.order is not None and again.order is not None and first.order.id == again.order.id
    assert second.order is not None and second.order.symbol == "MSFT" and not second.refused
    assert refused.refusal == "unknown symbol NOSUCH"
    venue.trade()
    assert await books.executor.sync_broker_orders(
        [order.broker_order_id for order in await books.executor.orders.recent() if order.broker_order_id]
    )
    positions = {p.symbol: p.position.quantity for p in await books.executor.positions.all()}
    assert positions == {"AAPL": Decimal(10), "MSFT": Decimal(3)}
    report = await books.executor.reconcile()
    assert report.fills_recorded == 0 and report.position_drifts == [] and report.order_drifts == []
    await assert_books_equal_broker(books, venue)
    # The same batch delivered again sends nothing and finds the same orders.
    redelivered = await books.executor.execute_approved_batch([aapl, msft])
    assert [r.order.id for r in redelivered if r.order] == [first.order.id, second.order.id]
    assert venue.order_count() == 2


async def test_syncing_an_order_the_books_do_not_hold_changes_nothing(books: Books, venue: Venue) -> None:
    venue.set_price("AAPL", Decimal("100"))
    ours = await books.executor.execute_approved(approval())
    by_hand = await venue.broker.submit_order(
        OrderRequest(client_order_id="by-hand", symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(1))
    )
    venue.trade()
    assert ours.order is not None and ours.order.broker_order_id is not None

    synced = await books.executor.sync_broker_orders([ours.order.broker_order_id, by_hand.broker_order_id])

    assert not synced  # the caller runs the full reconciliation, which imports foreign orders
    unchanged = await books.executor.orders.get(ours.order.id)
    assert unchanged == ours.order
