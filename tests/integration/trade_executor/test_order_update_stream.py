"""The Alpaca order-update stream adapter against the trade_updates emulator over real websockets:
authentication accepted and refused, the listen acknowledgement, every event kind, binary and
text frames, bad messages counted and skipped, the one-connection limit, a drop and the reconnect."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.server import EmulatorServer
from tests.integration.emulators.test_alpaca_trading_stream_emulator import (
    EVERY_EVENT,
    every_event_kind,
    post_order,
)
from tests.integration.trade_executor.venues import MARKET_OPEN_AT
from trader.adapters.alpaca.trading_stream import AlpacaOrderUpdates, stream_url_for
from trader.adapters.backoff import ReconnectBackoff
from trader.adapters.clock import SimulatedClock
from trader.core.order_updates import OrderUpdate, StreamState
from trader.core.orders import OrderStatus

FAST = ReconnectBackoff(first_seconds=0.05, most_seconds=0.2, refused_seconds=0.2)


class Listener:
    def __init__(self) -> None:
        self.connects = 0
        self.updates: list[OrderUpdate] = []

    async def on_connected(self) -> None:
        self.connects += 1

    async def on_updates(self, updates: Sequence[OrderUpdate]) -> None:
        self.updates.extend(updates)


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def stream_of(
    server: EmulatorServer, *, secret: str = "test-alpaca-secret", **options: object
) -> AlpacaOrderUpdates:
    return AlpacaOrderUpdates(
        "test-alpaca-key",
        secret,
        url=stream_url_for(server.base_url),
        clock=SimulatedClock(MARKET_OPEN_AT, speed=0),
        **{"backoff": FAST, **options},  # type: ignore[arg-type]
    )


@asynccontextmanager
async def running(stream: AlpacaOrderUpdates, listener: Listener) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run(listener))
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_the_stream_url_goes_with_the_rest_url() -> None:
    assert stream_url_for("https://paper-api.alpaca.markets") == "wss://paper-api.alpaca.markets/stream"
    assert stream_url_for("https://api.alpaca.markets/") == "wss://api.alpaca.markets/stream"
    assert stream_url_for("http://127.0.0.1:8123") == "ws://127.0.0.1:8123/stream"


async def test_listening_then_every_event_kind_arrives_as_an_order_update(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    stream, listener = stream_of(alpaca_server), Listener()
    async with running(stream, listener):
        await until(lambda: stream.status.state is StreamState.LISTENING)
        assert listener.connects == 1 and stream.status.connects == 1
        ids = every_event_kind(alpaca, alpaca_server)
        await until(lambda: len(listener.updates) == len(EVERY_EVENT))
    assert [(u.event, u.order.broker_order_id) for u in listener.updates] == [
        (event, ids[role]) for event, role in EVERY_EVENT
    ]
    assert [u.order.status for u in listener.updates] == [
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.ACCEPTED,
        OrderStatus.CANCELED,
        OrderStatus.ACCEPTED,
        OrderStatus.EXPIRED,
        OrderStatus.ACCEPTED,
        OrderStatus.REJECTED,
        OrderStatus.ACCEPTED,
        OrderStatus.DONE_FOR_DAY,
        OrderStatus.ACCEPTED,
        OrderStatus.REPLACED,
        OrderStatus.ACCEPTED,
    ]
    fills = [update.fill for update in listener.updates if update.fill is not None]
    assert [(f.quantity, f.cumulative_quantity, f.price, f.broker_order_id) for f in fills] == [
        (Decimal(3), Decimal(3), Decimal(100), ids["filled"]),
        (Decimal(2), Decimal(5), Decimal(100), ids["filled"]),
    ]
    assert listener.updates[3].position_quantity == Decimal(5)
    assert listener.updates[-1].order.quantity == 3  # the replacement's new quantity
    assert stream.status.updates == len(EVERY_EVENT) and stream.status.rejected_messages == 0


async def test_text_frames_are_read_as_well_as_binary_ones(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    alpaca.stream.binary_frames = False
    stream, listener = stream_of(alpaca_server), Listener()
    async with running(stream, listener):
        await until(lambda: stream.status.listening)
        post_order(alpaca_server, "AAPL", "10")
        await until(lambda: len(listener.updates) == 1)
    assert listener.updates[0].event == "new"


async def test_bad_messages_are_counted_with_a_reason_and_the_stream_goes_on(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer, caplog: object
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    stream, listener = stream_of(alpaca_server), Listener()
    async with running(stream, listener):
        await until(lambda: stream.status.listening)
        order = post_order(alpaca_server, "AAPL", "10")
        await until(lambda: len(listener.updates) == 1)
        good = alpaca.stream.updates[-1]
        alpaca.stream.send_raw(b"{not json")
        alpaca.stream.send_raw(json.dumps({"stream": "account_updates", "data": {}}))
        alpaca.stream.send_raw(
            json.dumps({"stream": "trade_updates", "data": {**good, "event": "teleported"}})
        )
        impossible = {**good, "event": "fill", "price": "-3", "qty": "10", "execution_id": "x"}
        impossible["order"] = {**good["order"], "filled_qty": "10", "status": "filled"}
        alpaca.stream.send_raw(json.dumps({"stream": "trade_updates", "data": impossible}))
        unreadable = {**good, "order": {**good["order"], "status": "vaporised"}}
        alpaca.stream.send_raw(json.dumps({"stream": "trade_updates", "data": unreadable}))
        alpaca.fill_pending()
        await until(lambda: len(listener.updates) == 2)
    assert stream.status.rejected_messages == 5
    assert listener.updates[1].event == "fill" and listener.updates[1].order.broker_order_id == order["id"]
    messages = [record.getMessage() for record in caplog.records]  # type: ignore[attr-defined]
    assert any("not JSON" in m for m in messages)
    assert any("unknown stream 'account_updates'" in m for m in messages)
    assert any("unknown event 'teleported'" in m for m in messages)
    assert any("impossible fill" in m for m in messages)
    assert any("vaporised" in m for m in messages)


async def test_wrong_keys_are_refused_named_and_never_retried_in_a_tight_loop(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    backoff = ReconnectBackoff(first_seconds=0.05, most_seconds=0.2, refused_seconds=30)
    stream, listener = stream_of(alpaca_server, secret="wrong", backoff=backoff), Listener()
    async with running(stream, listener):
        await until(lambda: stream.status.state is StreamState.REFUSED)
        await asyncio.sleep(1.0)
        assert alpaca.stream.handshakes == 1  # the next try is 15 s to 30 s away
    assert listener.connects == 0
    assert stream.status.state is StreamState.STOPPED
    assert alpaca.stream.handshakes == 1


async def test_a_refusal_reason_names_the_keys_or_the_connection_limit(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    refused = stream_of(alpaca_server, secret="wrong", backoff=ReconnectBackoff(refused_seconds=30))
    async with running(refused, Listener()):
        await until(lambda: refused.status.state is StreamState.REFUSED)
        assert "check ALPACA_API_KEY and ALPACA_SECRET_KEY" in (refused.status.reason or "")
    first, second = (
        stream_of(alpaca_server),
        stream_of(alpaca_server, backoff=ReconnectBackoff(refused_seconds=30)),
    )
    async with running(first, Listener()):
        await until(lambda: first.status.listening)
        async with running(second, Listener()):
            await until(lambda: second.status.state is StreamState.REFUSED)
            assert "HTTP 429" in (second.status.reason or "")
            assert "one per account" in (second.status.reason or "")
            assert first.status.listening


async def test_a_dropped_stream_reconnects_and_tells_the_listener_again(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    stream, listener = stream_of(alpaca_server), Listener()
    async with running(stream, listener):
        await until(lambda: stream.status.listening)
        alpaca.stream.drop()
        await until(lambda: listener.connects == 2 and stream.status.listening)
        post_order(alpaca_server, "AAPL", "10")
        await until(lambda: len(listener.updates) == 1)
        alpaca.stream.refuse_handshakes_with = 503  # an outage: retried with backoff until it ends
        alpaca.stream.drop()
        await until(lambda: stream.status.state is StreamState.RECONNECTING and alpaca.stream.handshakes >= 4)
        assert "503" in (stream.status.reason or "")
        alpaca.stream.refuse_handshakes_with = None
        await until(lambda: listener.connects == 3 and stream.status.listening)
    assert stream.status.connects == 3
