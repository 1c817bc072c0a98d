"""The Alpaca order-update stream adapter against the trade_updates emulator over real websockets:
authentication accepted and refused, the listen acknowledgement, every event kind, binary and
text frames, bad messages counted and skipped, the one-connection limit, a drop and the reconnect."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import requests

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.server import EmulatorServer
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

    async def on_update(self, update: OrderUpdate) -> None:
        self.updates.append(update)


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


HEADERS = {"APCA-API-KEY-ID": "test-alpaca-key", "APCA-API-SECRET-KEY": "test-alpaca-secret"}


def post(server: EmulatorServer, **order: str) -> dict[str, str]:
    body = {"symbol": "AAPL", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day", **order}
    answer = requests.post(f"{server.base_url}/v2/orders", json=body, headers=HEADERS, timeout=5)
    assert answer.status_code == 200, answer.text
    created: dict[str, str] = answer.json()
    return created


def cancel(server: EmulatorServer, order_id: str) -> None:
    answer = requests.delete(f"{server.base_url}/v2/orders/{order_id}", headers=HEADERS, timeout=5)
    assert answer.status_code == 204, answer.text


def test_the_stream_url_goes_with_the_rest_url() -> None:
    assert stream_url_for("https://paper-api.alpaca.markets") == "wss://paper-api.alpaca.markets/stream"
    assert stream_url_for("https://api.alpaca.markets/") == "wss://api.alpaca.markets/stream"
    assert stream_url_for("http://127.0.0.1:8123") == "ws://127.0.0.1:8123/stream"


async def test_listening_then_every_event_kind_arrives_as_an_order_update(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.set_price("AAPL", Decimal("100.25"))
    alpaca.set_liquidity("AAPL", Decimal(4))
    stream, listener = stream_of(alpaca_server), Listener()
    async with running(stream, listener):
        await until(lambda: stream.status.state is StreamState.LISTENING)
        assert listener.connects == 1 and stream.status.connects == 1
        alpaca.pending_new_first = True
        filled = post(alpaca_server)
        alpaca.pending_new_first = False
        for _ in range(3):
            alpaca.fill_pending()
        canceled = post(alpaca_server, type="limit", limit_price="1")
        cancel(alpaca_server, canceled["id"])
        expired = post(alpaca_server, type="limit", limit_price="1")
        alpaca.expire_orders()
        rejected = post(alpaca_server, type="limit", limit_price="1")
        alpaca.reject_order(rejected["id"])
        resting = post(alpaca_server, type="limit", limit_price="1", time_in_force="gtc")
        alpaca.finish_day(resting["id"])
        await until(lambda: len(listener.updates) == 13)
    events = [(update.event, update.order.status) for update in listener.updates]
    assert events == [
        ("pending_new", OrderStatus.SUBMITTED),
        ("new", OrderStatus.ACCEPTED),
        ("partial_fill", OrderStatus.PARTIALLY_FILLED),
        ("partial_fill", OrderStatus.PARTIALLY_FILLED),
        ("fill", OrderStatus.FILLED),
        ("new", OrderStatus.ACCEPTED),
        ("canceled", OrderStatus.CANCELED),
        ("new", OrderStatus.ACCEPTED),
        ("expired", OrderStatus.EXPIRED),
        ("new", OrderStatus.ACCEPTED),
        ("rejected", OrderStatus.REJECTED),
        ("new", OrderStatus.ACCEPTED),
        ("done_for_day", OrderStatus.DONE_FOR_DAY),
    ]
    fills = [update.fill for update in listener.updates if update.fill is not None]
    assert [(f.quantity, f.cumulative_quantity, f.price) for f in fills] == [
        (Decimal(4), Decimal(4), Decimal("100.25")),
        (Decimal(4), Decimal(8), Decimal("100.25")),
        (Decimal(2), Decimal(10), Decimal("100.25")),
    ]
    assert {f.broker_order_id for f in fills} == {filled["id"]}
    assert listener.updates[4].position_quantity == Decimal(10)
    assert {listener.updates[i].order.broker_order_id for i in (6, 8, 10)} == {
        canceled["id"],
        expired["id"],
        rejected["id"],
    }
    assert stream.status.updates == 13 and stream.status.rejected_messages == 0


async def test_a_replacement_arrives_as_replaced_then_the_new_order(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    stream, listener = stream_of(alpaca_server), Listener()
    async with running(stream, listener):
        await until(lambda: stream.status.listening)
        old = post(alpaca_server, type="limit", limit_price="1", time_in_force="gtc")
        new_id = alpaca.replace_order(old["id"], qty=Decimal(5))
        await until(lambda: len(listener.updates) == 3)
    replaced, successor = listener.updates[1:]
    assert (replaced.event, replaced.order.status) == ("replaced", OrderStatus.REPLACED)
    assert (successor.event, successor.order.broker_order_id, successor.order.quantity) == ("new", new_id, 5)


async def test_text_frames_are_read_as_well_as_binary_ones(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    alpaca.stream.binary_frames = False
    stream, listener = stream_of(alpaca_server), Listener()
    async with running(stream, listener):
        await until(lambda: stream.status.listening)
        post(alpaca_server)
        await until(lambda: len(listener.updates) == 1)
    assert listener.updates[0].event == "new"


async def test_bad_messages_are_counted_with_a_reason_and_the_stream_goes_on(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer, caplog: object
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    stream, listener = stream_of(alpaca_server), Listener()
    async with running(stream, listener):
        await until(lambda: stream.status.listening)
        order = post(alpaca_server)
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
        post(alpaca_server)
        await until(lambda: len(listener.updates) == 1)
        alpaca.stream.refuse_handshakes_with = 503  # an outage: retried with backoff until it ends
        alpaca.stream.drop()
        await until(lambda: stream.status.state is StreamState.RECONNECTING and alpaca.stream.handshakes >= 4)
        assert "503" in (stream.status.reason or "")
        alpaca.stream.refuse_handshakes_with = None
        await until(lambda: listener.connects == 3 and stream.status.listening)
    assert stream.status.connects == 3
