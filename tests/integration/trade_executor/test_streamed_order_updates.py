"""Order updates streamed by the broker, taken into the books: on SQLite and PostgreSQL, against the
Alpaca emulator's REST API and trade_updates websocket.

A fill is learnt from the stream (no REST read at all), a fill seen on the stream and again by
reconciliation is one fill whichever comes first (the two name it with different ids), partial
fills count once each, the stream beating the order POST's own answer is no disagreement, a broker
refusal is logged and notified, and a restart between updates loses none of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.faults import Fault
from tests.emulators.server import EmulatorServer
from tests.integration.trade_executor.test_executor_contract import approval
from tests.integration.trade_executor.venues import MARKET_OPEN_AT
from trader.adapters.alpaca.broker import AlpacaBroker
from trader.adapters.alpaca.trading_stream import AlpacaOrderUpdates, stream_url_for, update_from
from trader.adapters.backoff import ReconnectBackoff
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.orders import OrderStore, StoredOrder
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.core.orders import OrderStatus
from trader.core.ports import MessageBus, Notification
from trader.services.common.notifications import (
    CONSUMER_GROUP,
    NOTIFIED_TOPICS,
    ORDER_REJECTED,
    NotificationDispatcher,
    notification_worker,
)
from trader.services.trade_executor.handlers import ExecutorConfig, TradeExecutor

FAST = ReconnectBackoff(first_seconds=0.05, most_seconds=0.2, refused_seconds=0.2)


async def until(condition: Callable[[], object], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await _holds(condition):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _holds(condition: Callable[[], object]) -> bool:
    result = condition()
    if asyncio.iscoroutine(result):
        result = await result
    return bool(result)


@dataclass
class Streamed:
    """An executor over the emulated Alpaca, with its order-update stream running (or not)."""

    executor: TradeExecutor
    stream: AlpacaOrderUpdates
    emulator: AlpacaEmulator
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.stream.run(self.executor.order_updates))
        await until(lambda: self.stream.status.listening)
        await self.caught_up()

    async def caught_up(self) -> None:
        """The reconciliation every (re)connect starts has finished."""
        catch_up = self.executor.order_updates._catch_up
        if catch_up is not None:
            await asyncio.wait_for(asyncio.shield(catch_up), timeout=30)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        await self.executor.order_updates.close()

    async def only_order(self) -> StoredOrder:
        (order,) = await self.executor.orders.recent()
        return order

    async def fills(self) -> list[tuple[Decimal, Decimal | None]]:
        order = await self.only_order()
        return [(f.quantity, f.cumulative_quantity) for f in await self.executor.orders.fills_of(order.id)]

    async def held(self, symbol: str = "AAPL") -> Decimal:
        return {p.symbol: p.position.quantity for p in await self.executor.positions.all()}.get(
            symbol, Decimal(0)
        )


def executor_over(
    engine: AsyncEngine, server: EmulatorServer, bus: MessageBus | None = None
) -> TradeExecutor:
    return TradeExecutor(
        broker=AlpacaBroker(
            "test-alpaca-key", "test-alpaca-secret", base_url=server.base_url, read_timeout_seconds=2
        ),
        orders=OrderStore(engine),
        positions=PositionStore(engine),
        trading_state=TradingStateStore(engine),
        clock=SimulatedClock(MARKET_OPEN_AT, speed=0),
        bus=bus if bus is not None else InMemoryBus(),
        config=ExecutorConfig(retry_wait_seconds=0.01),
    )


def streamed_over(
    engine: AsyncEngine, emulator: AlpacaEmulator, server: EmulatorServer, bus: MessageBus | None = None
) -> Streamed:
    executor = executor_over(engine, server, bus)
    stream = AlpacaOrderUpdates(
        "test-alpaca-key",
        "test-alpaca-secret",
        url=stream_url_for(server.base_url),
        clock=executor.clock,
        backoff=FAST,
    )
    executor.order_stream = stream
    return Streamed(executor, stream, emulator)


@pytest.fixture
async def streamed(
    engine: AsyncEngine, alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> AsyncIterator[Streamed]:
    alpaca.set_price("AAPL", Decimal("100"))
    books = streamed_over(engine, alpaca, alpaca_server)
    yield books
    await books.stop()


def rest_reads(emulator: AlpacaEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emulator.requests if r.method == "GET"]


async def test_a_fill_is_learnt_from_the_stream_without_any_rest_read(streamed: Streamed) -> None:
    await streamed.start()
    result = await streamed.executor.execute_approved(approval())
    assert result.order is not None and result.order.status is OrderStatus.ACCEPTED
    reads_before = rest_reads(streamed.emulator)
    started = time.monotonic()

    streamed.emulator.fill_pending()
    await until(lambda: _learnt(streamed), seconds=5)
    learnt_after = time.monotonic() - started

    order = await streamed.only_order()
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal(10))
    assert await streamed.fills() == [(Decimal(10), Decimal(10))]
    assert rest_reads(streamed.emulator) == reads_before  # no reconciliation, no look-up: the stream
    assert learnt_after < 5
    status = await streamed.executor.broker_status()
    assert status["order_updates"]["state"] == "listening"
    assert status["order_updates"]["last_update"]["event"] == "fill"


@pytest.mark.parametrize("first", ["stream", "reconciliation"])
async def test_a_fill_seen_on_the_stream_and_by_reconciliation_is_one_fill(
    streamed: Streamed, first: str
) -> None:
    streamed.emulator.set_liquidity("AAPL", Decimal(4))
    await streamed.start()
    await streamed.executor.execute_approved(approval())
    if first == "reconciliation":
        await streamed.stop()
    for _ in range(3):
        streamed.emulator.fill_pending()
    if first == "stream":
        await until(lambda: _learnt(streamed))
        await streamed.stop()
    report = await streamed.executor.reconcile()
    assert len(await streamed.fills()) == 3
    if first == "reconciliation":
        # The stream's copies of the same three fills, under the stream's execution ids, arriving
        # in one burst (one batch: the new order and its three fills).
        now = streamed.executor.clock.now()
        late = [update_from(data, received_at=now) for data in streamed.emulator.stream.updates]
        await streamed.executor.order_updates.on_updates(late)
    again = await streamed.executor.reconcile()

    assert report.orders_updated == (1 if first == "reconciliation" else 0)
    assert again.fills_recorded == 0 and again.position_drifts == [] and again.order_drifts == []
    assert await streamed.fills() == [
        (Decimal(4), Decimal(4)),
        (Decimal(4), Decimal(8)),
        (Decimal(2), Decimal(10)),
    ]
    assert await streamed.held() == Decimal(10) == streamed.emulator.position_qty("AAPL")
    order = await streamed.only_order()
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal(10))
    assert streamed.executor.order_updates.failed_updates == 0


async def test_partial_fills_split_between_the_channels_each_count_once(streamed: Streamed) -> None:
    streamed.emulator.set_liquidity("AAPL", Decimal(3))
    await streamed.start()
    await streamed.executor.execute_approved(approval())
    streamed.emulator.fill_pending()
    await until(lambda: holding(streamed, Decimal(3)))
    await streamed.stop()  # the stream is down while two more executions happen
    streamed.emulator.fill_pending()
    streamed.emulator.fill_pending()
    await streamed.start()  # the reconnect reconciles what was missed
    streamed.emulator.fill_pending()
    await until(lambda: _learnt(streamed))

    assert await streamed.fills() == [
        (Decimal(3), Decimal(3)),
        (Decimal(3), Decimal(6)),
        (Decimal(3), Decimal(9)),
        (Decimal(1), Decimal(10)),
    ]
    report = await streamed.executor.reconcile()
    assert report.fills_recorded == 0 and report.position_drifts == []
    assert (await streamed.only_order()).status is OrderStatus.FILLED


async def test_the_stream_beating_the_order_answer_is_no_disagreement(
    streamed: Streamed, caplog: pytest.LogCaptureFixture
) -> None:
    await streamed.start()
    streamed.emulator.fill_on_submit = True
    # The order is created and filled at once; its POST answer ("new") comes after the stream's fill.
    streamed.emulator.inject(
        Fault(delay_seconds=0.5, after_processing=True, method="POST", path="/v2/orders")
    )

    with caplog.at_level(logging.WARNING):
        result = await streamed.executor.execute_approved(approval())

    assert result.order is not None
    order = await streamed.only_order()
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal(10))
    assert await streamed.fills() == [(Decimal(10), Decimal(10))]
    assert await streamed.held() == Decimal(10)
    assert not [r for r in caplog.records if "disagree" in r.getMessage()]
    assert streamed.emulator.order_count() == 1


class Heard:
    """A notification channel (our `Notifier` port) that keeps what it is told."""

    channel = "test"

    def __init__(self) -> None:
        self.notifications: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        self.notifications.append(notification)


@pytest.mark.parametrize("refused_by", ["the order POST (403)", "a rejected update"])
async def test_a_broker_refusal_is_logged_with_its_message_and_notified(
    engine: AsyncEngine,
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    bus: MessageBus,
    caplog: pytest.LogCaptureFixture,
    refused_by: str,
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    books = streamed_over(engine, alpaca, alpaca_server, bus)
    heard = Heard()
    for topic in NOTIFIED_TOPICS:  # the notifier hears everything published from now on
        await bus.ensure_group(topic, CONSUMER_GROUP)
    notifier = asyncio.create_task(
        notification_worker(bus, NotificationDispatcher([heard], cooldown_seconds=0), consumer="t")()
    )
    try:
        await books.start()
        with caplog.at_level(logging.WARNING):
            if refused_by == "the order POST (403)":
                result = await books.executor.execute_approved(approval(quantity="5000"))  # $500,000
                expected = "insufficient buying power"
            else:
                result = await books.executor.execute_approved(approval())
                assert result.order is not None and result.order.broker_order_id is not None
                alpaca.reject_order(result.order.broker_order_id)
                expected = "broker rejected the order"
            await until(lambda: _rejected(books))
            await until(lambda: heard.notifications, seconds=10)
    finally:
        notifier.cancel()
        await asyncio.gather(notifier, return_exceptions=True)
        await books.stop()

    order = await books.only_order()
    assert order.status is OrderStatus.REJECTED and expected in (order.error_message or "")
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "rejected by the broker" in r.getMessage()
    ]
    assert len(warnings) == 1 and expected in warnings[0].getMessage() and "AAPL" in warnings[0].getMessage()
    (notification,) = heard.notifications
    assert notification.kind == ORDER_REJECTED and expected in notification.message
    assert dict(notification.details)["client_order_id"] == order.client_order_id


async def holding(books: Streamed, quantity: Decimal) -> bool:
    return await books.held() == quantity


async def _rejected(books: Streamed) -> bool:
    return (await books.only_order()).status is OrderStatus.REJECTED


async def _learnt(books: Streamed) -> bool:
    """The fill is in: the order is filled (its status is written after its fill)."""
    return (await books.only_order()).status is OrderStatus.FILLED


async def test_a_restart_between_updates_loses_none(
    engine: AsyncEngine, alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    alpaca.set_liquidity("AAPL", Decimal(4))
    first = streamed_over(engine, alpaca, alpaca_server)
    await first.start()
    await first.executor.execute_approved(approval())
    alpaca.fill_pending()
    await until(lambda: holding(first, Decimal(4)))
    await first.stop()  # the executor process goes away...
    alpaca.fill_pending()  # ...while the broker fills more
    assert alpaca.order_status((await first.only_order()).broker_order_id or "") == "partially_filled"

    second = streamed_over(engine, alpaca, alpaca_server)  # a new process: new objects, same books
    try:
        await second.start()  # its first connect reconciles what the first one missed
        assert await second.held() == Decimal(8)
        alpaca.fill_pending()
        await until(lambda: _learnt(second))
    finally:
        await second.stop()

    assert await second.fills() == [
        (Decimal(4), Decimal(4)),
        (Decimal(4), Decimal(8)),
        (Decimal(2), Decimal(10)),
    ]
    assert (await second.only_order()).status is OrderStatus.FILLED
    assert second.stream.status.connects == 1 and first.stream.status.connects == 1
