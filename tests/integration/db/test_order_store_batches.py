"""The order store's batch writes, on SQLite and PostgreSQL: one transaction in the common case,
and each order or fill still counted exactly once when part of a batch was recorded before."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.orders import OrderIntent, OrderStore, StoredOrder
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.tables import fills
from trader.core.broker import BrokerFill, BrokerOrder, OrderRequest
from trader.core.orders import OrderSide, OrderStatus, OrderType, TimeInForce

AT = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def intent(
    client_order_id: str, symbol: str = "AAPL", quantity: str = "10", refusal: str | None = None
) -> OrderIntent:
    request = OrderRequest(client_order_id, symbol, OrderSide.BUY, Decimal(quantity))
    return OrderIntent(request, refusal=refusal)


def at_broker(
    order: StoredOrder, status: OrderStatus, filled: str = "0", price: str | None = None
) -> BrokerOrder:
    return BrokerOrder(
        broker_order_id=f"b-{order.client_order_id}",
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        status=status,
        broker_status=status.value,
        filled_quantity=Decimal(filled),
        average_fill_price=None if price is None else Decimal(price),
        submitted_at=AT,
    )


def fill_of(order: StoredOrder, execution_id: str, quantity: str, price: str) -> BrokerFill:
    return BrokerFill(
        execution_id=execution_id,
        broker_order_id=f"b-{order.client_order_id}",
        symbol=order.symbol,
        side=order.side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        filled_at=AT + timedelta(minutes=1),
    )


async def test_a_batch_of_intents_is_recorded_and_says_which_are_new(engine: AsyncEngine) -> None:
    store = OrderStore(engine)
    await store.create_intent(intent("first").request, broker="simulated", created_at=AT)

    stored = await store.create_intents(
        [
            intent("first"),
            intent("second", "MSFT"),
            intent("refused", refusal="no"),
        ],
        broker="simulated",
        created_at=AT,
    )

    assert {key: created for key, (_order, created) in stored.items()} == {
        "first": False,
        "second": True,
        "refused": True,
    }
    assert stored["second"][0].symbol == "MSFT" and stored["second"][0].status is OrderStatus.PENDING
    assert stored["refused"][0].status is OrderStatus.REJECTED and stored["refused"][0].error_message == "no"
    assert len(await store.recent()) == 3


async def test_an_intent_the_database_refuses_for_another_reason_is_raised(engine: AsyncEngine) -> None:
    store = OrderStore(engine)
    negative = intent("negative", quantity="-1")  # the request allows it; the table's check does not

    with pytest.raises(IntegrityError):
        await store.create_intents([intent("fine"), negative], broker="simulated", created_at=AT)

    # The batch fell back to one transaction per intent: the good one is in the books, and a
    # retry of the batch finds it there instead of recording it twice.
    assert [order.client_order_id for order in await store.recent()] == ["fine"]
    with pytest.raises(ValueError, match="same client_order_id twice"):
        await store.create_intents([intent("twice"), intent("twice")], broker="simulated", created_at=AT)


async def test_broker_answers_are_taken_together_and_a_changed_order_is_left_to_the_caller(
    engine: AsyncEngine,
) -> None:
    store = OrderStore(engine)
    stored = await store.create_intents(
        [intent("a"), intent("b"), intent("c")], broker="simulated", created_at=AT
    )
    a, b, c = (stored[key][0] for key in ("a", "b", "c"))
    moved_meanwhile = await store.update(b, at=AT, error_message="touched by reconciliation")

    synced = await store.sync_many_from_broker(
        [
            (a, at_broker(a, OrderStatus.ACCEPTED)),
            (b, at_broker(b, OrderStatus.ACCEPTED)),  # read at a version that is gone
            (c, at_broker(c, OrderStatus.PENDING)),  # same status: only the broker's id is new
        ],
        AT,
    )

    assert synced[0] is not None and synced[0].status is OrderStatus.ACCEPTED
    assert synced[0].broker_order_id == "b-a" and synced[0].version == a.version + 1
    assert synced[1] is None
    assert synced[2] is not None and synced[2].broker_order_id == "b-c"
    again = await store.sync_many_from_broker([(synced[0], at_broker(a, OrderStatus.ACCEPTED))], AT)
    assert again == [synced[0]]  # unchanged: nothing written
    assert (await store.get(b.id)) == moved_meanwhile
    # A copy older than the books' (pending, after the broker's own "accepted" was taken, as when
    # the order POST's answer comes after the stream's update) is left alone, not an error.
    stale = await store.sync_many_from_broker([(synced[0], at_broker(a, OrderStatus.PENDING))], AT)
    assert stale == [synced[0]]
    (filled,) = await store.sync_many_from_broker(
        [(synced[2], at_broker(c, OrderStatus.FILLED, "10", "5"))], AT
    )
    assert filled is not None and filled.status is OrderStatus.FILLED
    illegal = await store.sync_many_from_broker([(filled, at_broker(c, OrderStatus.CANCELED, "10"))], AT)
    assert illegal == [None]  # filled cannot become canceled: the caller reports it


async def test_fills_are_recorded_together_and_each_counts_once(engine: AsyncEngine) -> None:
    store = OrderStore(engine)
    stored = await store.create_intents([intent("a"), intent("b", "MSFT")], broker="simulated", created_at=AT)
    a = (
        await store.sync_many_from_broker(
            [(stored["a"][0], at_broker(stored["a"][0], OrderStatus.FILLED, "10", "100"))], AT
        )
    )[0]
    b = (
        await store.sync_many_from_broker(
            [(stored["b"][0], at_broker(stored["b"][0], OrderStatus.FILLED, "10", "300"))], AT
        )
    )[0]
    assert a is not None and b is not None
    first = fill_of(a, "x-1", "4", "100")
    await store.record_fill(a, first)

    recorded = await store.record_fills(
        [(a, first), (a, fill_of(a, "x-2", "6", "100")), (b, fill_of(b, "x-3", "10", "300"))]
    )

    assert [position is None for position in recorded] == [True, False, False]
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(fills)) == 3
    held = {p.symbol: p.position.quantity for p in await PositionStore(engine).all()}
    assert held == {"AAPL": Decimal(10), "MSFT": Decimal(10)}
    assert await store.record_fills([(b, fill_of(b, "x-3", "10", "300"))]) == [None]


async def test_orders_and_signal_times_are_read_by_many_ids(engine: AsyncEngine) -> None:
    store = OrderStore(engine)
    stored = await store.create_intents(
        [intent(f"id-{number}", symbol=f"S{number}") for number in range(3)],
        broker="simulated",
        created_at=AT,
    )
    synced = await store.sync_many_from_broker(
        [(order, at_broker(order, OrderStatus.ACCEPTED)) for order, _created in stored.values()], AT
    )

    by_client = await store.by_client_order_ids(["id-0", "id-2", "unknown"])
    by_broker = await store.by_broker_order_ids(["b-id-1", "b-unknown"])

    assert sorted(by_client) == ["id-0", "id-2"]
    assert list(by_broker) == ["b-id-1"] and by_broker["b-id-1"] == synced[1]
    assert await store.signal_bar_times(["no-such-signal"]) == {}


async def test_a_batch_of_fills_moves_each_position_as_the_fills_one_by_one_would(
    engine: AsyncEngine,
) -> None:
    store = OrderStore(engine)
    stored = await store.create_intents([intent("a"), intent("m", "MSFT")], broker="simulated", created_at=AT)
    a, m = stored["a"][0], stored["m"][0]
    await store.record_fill(m, fill_of(m, "m-1", "4", "300"))  # MSFT held before the batch
    fills_in_order = [
        fill_of(a, "a-1", "10", "100"),
        replace(fill_of(a, "a-2", "10", "110"), side=OrderSide.SELL, filled_at=AT + timedelta(minutes=2)),
        replace(fill_of(a, "a-3", "5", "120"), filled_at=AT + timedelta(minutes=3)),  # opened again
        replace(fill_of(m, "m-2", "4", "310"), side=OrderSide.SELL, filled_at=AT + timedelta(minutes=3)),
    ]

    after = await store.record_fills([(a if f.symbol == "AAPL" else m, f) for f in fills_in_order])

    assert [(p.symbol, p.quantity) for p in after if p is not None] == [
        ("AAPL", Decimal(10)),
        ("AAPL", Decimal(0)),
        ("AAPL", Decimal(5)),
        ("MSFT", Decimal(0)),
    ]
    books = {p.symbol: p for p in await PositionStore(engine).all(include_flat=True)}
    aapl, msft = books["AAPL"], books["MSFT"]
    assert (aapl.position.quantity, aapl.position.average_cost, aapl.position.realized_pnl) == (
        Decimal(5),
        Decimal(120),
        Decimal(100),
    )
    assert aapl.opened_at == AT + timedelta(minutes=3) and aapl.updated_at == AT + timedelta(minutes=3)
    assert (msft.position.quantity, msft.position.realized_pnl) == (Decimal(0), Decimal(40))
    assert msft.opened_at == AT + timedelta(minutes=1)  # when it opened; closing keeps it


async def test_on_sqlite_an_order_changed_between_reading_and_writing_a_batch_is_not_overwritten(
    sqlite_url: str,
) -> None:
    """SQLite takes no row locks: another connection can commit between the batch reading its
    versions and writing. The batch then falls back to one version-checked update per order."""
    engine = create_engine(sqlite_url)
    store = OrderStore(engine)
    stored = await store.create_intents([intent("a"), intent("b")], broker="simulated", created_at=AT)
    a, b = stored["a"][0], stored["b"][0]
    path = make_url(sqlite_url).database
    assert path is not None

    raced: list[str] = []

    def another_writer_first(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE trades") and not raced:
            raced.append(statement)
            with sqlite3.connect(path) as other:  # reconciliation, say, in another process
                other.execute(
                    "UPDATE trades SET version = version + 1, error_message = 'other' WHERE id = ?", (b.id,)
                )

    event.listen(engine.sync_engine, "before_cursor_execute", another_writer_first)
    try:
        synced = await store.sync_many_from_broker(
            [(a, at_broker(a, OrderStatus.ACCEPTED)), (b, at_broker(b, OrderStatus.ACCEPTED))], AT
        )
        assert raced and synced[0] is not None and synced[0].status is OrderStatus.ACCEPTED
        assert synced[1] is None
        kept = await store.get(b.id)
        assert kept is not None and kept.error_message == "other" and kept.status is OrderStatus.PENDING
    finally:
        await engine.dispose()
