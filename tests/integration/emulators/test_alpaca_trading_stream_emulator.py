"""The trade_updates websocket emulator: alpaca-py's own TradingStream against it, and the protocol
frame by frame over a plain websocket (auth, listen, every event kind, codecs, the connection
limit, drops), with the REST emulator's life cycle behind every update."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import msgpack
import pytest
import requests
import websockets
from alpaca.trading.models import TradeUpdate
from alpaca.trading.stream import TradingStream
from websockets.asyncio.client import ClientConnection

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.server import EmulatorServer

HEADERS_OF = {"APCA-API-KEY-ID": "test-alpaca-key", "APCA-API-SECRET-KEY": "test-alpaca-secret"}


def stream_url(server: EmulatorServer) -> str:
    return f"ws://127.0.0.1:{server.port}/stream"


def post_order(server: EmulatorServer, symbol: str, qty: str, **extra: Any) -> dict[str, Any]:
    body = {"symbol": symbol, "qty": qty, "side": "buy", "type": "market", "time_in_force": "day", **extra}
    answer = requests.post(f"{server.base_url}/v2/orders", json=body, headers=HEADERS_OF, timeout=5)
    assert answer.status_code == 200, answer.text
    order: dict[str, Any] = answer.json()
    return order


def cancel_order(server: EmulatorServer, order_id: str) -> None:
    answer = requests.delete(f"{server.base_url}/v2/orders/{order_id}", headers=HEADERS_OF, timeout=5)
    assert answer.status_code == 204, answer.text


def get_json(server: EmulatorServer, path: str) -> Any:
    answer = requests.get(f"{server.base_url}{path}", headers=HEADERS_OF, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def receive(socket: ClientConnection, *, codec: str = "json") -> dict[str, Any]:
    frame = await asyncio.wait_for(socket.recv(), timeout=5)
    decoded: dict[str, Any] = msgpack.unpackb(frame) if codec == "msgpack" else json.loads(frame)
    return decoded


@asynccontextmanager
async def listening(
    server: EmulatorServer, *, secret: str = "test-alpaca-secret"
) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(stream_url(server)) as socket:
        await socket.send(
            json.dumps(
                {"action": "authenticate", "data": {"key_id": "test-alpaca-key", "secret_key": secret}}
            )
        )
        assert (await receive(socket))["data"]["status"] == "authorized"
        await socket.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert await receive(socket) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
        yield socket


def test_alpaca_py_trading_stream_receives_the_order_life_cycle(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    alpaca.set_liquidity("AAPL", Decimal(4))
    received: list[TradeUpdate] = []
    stream = TradingStream(alpaca.api_key, alpaca.secret_key, url_override=stream_url(alpaca_server))

    async def on_update(update: TradeUpdate) -> None:
        received.append(update)

    stream.subscribe_trade_updates(on_update)
    runner = threading.Thread(target=stream.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while alpaca.stream.listening == 0:
            assert time.monotonic() < deadline, "alpaca-py never started listening"
            time.sleep(0.01)
        order = post_order(alpaca_server, "AAPL", "10")
        alpaca.fill_pending()
        alpaca.fill_pending()
        alpaca.fill_pending()
        while len(received) < 4:
            assert time.monotonic() < deadline, f"only {[u.event for u in received]} arrived"
            time.sleep(0.01)
    finally:
        stream.stop()
        runner.join(timeout=15)
    assert not runner.is_alive()
    assert [update.event for update in received] == [
        "new",
        "partial_fill",
        "partial_fill",
        "fill",
    ]
    last = received[-1]
    assert (
        str(last.order.id) == order["id"] and last.qty == 2 and last.price == 100 and last.position_qty == 10
    )
    assert last.execution_id is not None
    assert len({update.execution_id for update in received[1:]}) == 3


async def test_wrong_keys_are_told_unauthorized_and_the_connection_is_closed(
    alpaca_server: EmulatorServer,
) -> None:
    async with websockets.connect(stream_url(alpaca_server)) as socket:
        await socket.send(json.dumps({"action": "auth", "key": "test-alpaca-key", "secret": "wrong"}))
        answer = await receive(socket)
        assert answer == {
            "stream": "authorization",
            "data": {"status": "unauthorized", "action": "authenticate"},
        }
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_listen_before_authenticating_is_refused(alpaca_server: EmulatorServer) -> None:
    async with websockets.connect(stream_url(alpaca_server)) as socket:
        await socket.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert await receive(socket) == {
            "stream": "authorization",
            "data": {"status": "unauthorized", "action": "listen"},
        }


async def test_the_documented_auth_form_works_and_unknown_streams_are_left_out(
    alpaca_server: EmulatorServer,
) -> None:
    async with websockets.connect(stream_url(alpaca_server)) as socket:
        await socket.send(
            json.dumps({"action": "auth", "key": "test-alpaca-key", "secret": "test-alpaca-secret"})
        )
        assert (await receive(socket))["data"] == {"status": "authorized", "action": "authenticate"}
        await socket.send(
            json.dumps({"action": "listen", "data": {"streams": ["trade_updates", "nonsense"]}})
        )
        assert (await receive(socket))["data"] == {"streams": ["trade_updates"]}


async def test_updates_come_in_binary_frames_by_default_text_on_request(alpaca: AlpacaEmulator) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    with EmulatorServer(alpaca.app) as server:
        async with listening(server) as socket:
            post_order(server, "AAPL", "1")
            assert isinstance(await asyncio.wait_for(socket.recv(), timeout=5), bytes)
        alpaca.stream.binary_frames = False
        async with listening(server) as socket:
            post_order(server, "AAPL", "1")
            assert isinstance(await asyncio.wait_for(socket.recv(), timeout=5), str)


async def test_a_client_asking_for_msgpack_gets_msgpack(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    headers = {"Content-Type": "application/msgpack"}
    async with websockets.connect(stream_url(alpaca_server), additional_headers=headers) as socket:
        await socket.send(
            msgpack.packb({"action": "auth", "key": "test-alpaca-key", "secret": "test-alpaca-secret"})
        )
        assert (await receive(socket, codec="msgpack"))["data"]["status"] == "authorized"
        await socket.send(msgpack.packb({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert (await receive(socket, codec="msgpack"))["stream"] == "listening"
        post_order(alpaca_server, "AAPL", "1")
        update = await receive(socket, codec="msgpack")
    assert update["stream"] == "trade_updates" and update["data"]["event"] == "new"


# Each event the stream knows, in the order `every_event_kind` brings them: (event, which order).
EVERY_EVENT = [
    ("pending_new", "filled"),
    ("new", "filled"),
    ("partial_fill", "filled"),
    ("fill", "filled"),
    ("new", "canceled"),
    ("canceled", "canceled"),
    ("new", "expired"),
    ("expired", "expired"),
    ("new", "rejected"),
    ("rejected", "rejected"),
    ("new", "resting"),
    ("done_for_day", "resting"),
    ("new", "replaced"),
    ("replaced", "replaced"),
    ("new", "replacement"),
]


def every_event_kind(alpaca: AlpacaEmulator, server: EmulatorServer) -> dict[str, str]:
    """Orders taken through every event kind by REST calls and the emulator's controls: 5 AAPL
    filled 3 then 2 at 100, one canceled, one expired, one rejected, one done for the day, one
    replaced. Returns each order's id by its role in `EVERY_EVENT`."""
    alpaca.set_price("AAPL", Decimal("100"))
    alpaca.set_liquidity("AAPL", Decimal(3))
    alpaca.pending_new_first = True
    ids = {"filled": post_order(server, "AAPL", "5")["id"]}
    alpaca.pending_new_first = False
    alpaca.fill_pending()
    alpaca.fill_pending()
    resting = {"type": "limit", "limit_price": "50"}
    ids["canceled"] = post_order(server, "AAPL", "1", **resting)["id"]
    cancel_order(server, ids["canceled"])
    ids["expired"] = post_order(server, "AAPL", "1", **resting)["id"]
    alpaca.expire_orders("day")
    ids["rejected"] = post_order(server, "AAPL", "1", **resting)["id"]
    alpaca.reject_order(ids["rejected"])
    ids["resting"] = post_order(server, "AAPL", "1", **resting, time_in_force="gtc")["id"]
    alpaca.finish_day(ids["resting"])
    ids["replaced"] = post_order(server, "AAPL", "2", **resting, time_in_force="gtc")["id"]
    ids["replacement"] = alpaca.replace_order(ids["replaced"], qty=Decimal(3))
    return ids


async def test_every_event_kind_follows_the_rest_life_cycle(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    async with listening(alpaca_server) as socket:
        ids = every_event_kind(alpaca, alpaca_server)
        updates = [(await receive(socket))["data"] for _ in EVERY_EVENT]
    assert [(update["event"], update["order"]["id"]) for update in updates] == [
        (event, ids[role]) for event, role in EVERY_EVENT
    ]
    partial, fill = updates[2], updates[3]
    assert (partial["qty"], partial["price"], partial["position_qty"]) == ("3", "100", "3")
    assert (fill["qty"], fill["order"]["filled_qty"], fill["position_qty"]) == ("2", "5", "5")
    assert all("timestamp" in update for update in updates)
    # The stream and REST agree; the stream's execution id is not the FILL activity's id, the
    # order's cumulative quantity is what both carry.
    assert fill["order"] == get_json(alpaca_server, f"/v2/orders/{ids['filled']}")
    activities = get_json(alpaca_server, "/v2/account/activities/FILL?direction=asc")
    assert [a["cum_qty"] for a in activities] == ["3", "5"]
    assert {a["id"] for a in activities}.isdisjoint({partial["execution_id"], fill["execution_id"]})
    assert get_json(alpaca_server, f"/v2/orders/{ids['replaced']}")["replaced_by"] == ids["replacement"]
    statuses = [
        get_json(alpaca_server, f"/v2/orders/{ids[role]}")["status"] for role in ("expired", "rejected")
    ]
    assert statuses == ["expired", "rejected"]
    assert get_json(alpaca_server, f"/v2/orders/{ids['resting']}")["status"] == "done_for_day"


async def test_a_second_connection_is_refused_with_429_while_the_first_is_open(
    alpaca_server: EmulatorServer,
) -> None:
    async with listening(alpaca_server):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(stream_url(alpaca_server)):
                pass
        assert refused.value.response.status_code == 429
    async with listening(alpaca_server):  # the slot is free again once the first one closed
        pass


async def test_drop_cuts_the_connection_and_errors_are_sent_before_closing(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    async with listening(alpaca_server) as socket:
        assert alpaca.stream.drop() == 1
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(socket.recv(), timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    await until(lambda: alpaca.stream.listening == 0)
    async with listening(alpaca_server) as socket:
        alpaca.stream.send_error("internal server error")
        assert await receive(socket) == {
            "action": "error",
            "data": {"error_message": "internal server error"},
        }
        with pytest.raises(websockets.ConnectionClosedError):
            await asyncio.wait_for(socket.recv(), timeout=5)


async def test_a_refused_handshake_answers_the_status_set(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.stream.refuse_handshakes_with = 503
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(stream_url(alpaca_server)):
            pass
    assert refused.value.response.status_code == 503
    assert alpaca.stream.handshakes == 1
