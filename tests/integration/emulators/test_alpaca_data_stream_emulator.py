"""The market-data websocket emulator speaks Alpaca's protocol: alpaca-py's own StockDataStream (which
asks for MessagePack) receives bars, updated bars and daily bars from it, and a plain JSON client sees
the documented control messages and errors. What was streamed is what REST serves afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import websockets
from alpaca.data.enums import DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.live import StockDataStream
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from websockets.asyncio.client import ClientConnection, connect

from tests.emulators.alpaca import AlpacaEmulator, DataBar, minute_bars
from tests.emulators.alpaca_data_stream import AlpacaDataStreamEmulator
from tests.emulators.server import EmulatorServer

OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


@pytest.fixture
def stream(alpaca: AlpacaEmulator) -> AlpacaDataStreamEmulator:
    return AlpacaDataStreamEmulator(alpaca, auth_timeout_seconds=1.0)


@pytest.fixture
def stream_server(stream: AlpacaDataStreamEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(stream.app) as server:
        yield server


def ws_url(server: EmulatorServer, feed: str = "iex") -> str:
    return f"ws://127.0.0.1:{server.port}/v2/{feed}"


async def receive(client: ClientConnection) -> list[dict[str, Any]]:
    frame = await asyncio.wait_for(client.recv(), 5)
    messages: list[dict[str, Any]] = json.loads(frame)
    return messages


@contextlib.asynccontextmanager
async def json_client(server: EmulatorServer, feed: str = "iex") -> AsyncIterator[ClientConnection]:
    async with connect(ws_url(server, feed)) as client:
        assert await receive(client) == [{"T": "success", "msg": "connected"}]
        yield client


async def authenticate(client: ClientConnection, emulator: AlpacaDataStreamEmulator) -> list[dict[str, Any]]:
    await client.send(json.dumps({"action": "auth", "key": emulator.api_key, "secret": emulator.secret_key}))
    return await receive(client)


async def test_alpaca_py_receives_bars_updated_bars_and_daily_bars_over_msgpack(
    stream: AlpacaDataStreamEmulator, stream_server: EmulatorServer
) -> None:
    sdk = StockDataStream(
        stream.api_key, stream.secret_key, feed=DataFeed.IEX, url_override=ws_url(stream_server)
    )
    received: list[Any] = []

    async def handler(bar: Any) -> None:
        received.append(bar)

    sdk.subscribe_bars(handler, "AAPL")
    sdk.subscribe_updated_bars(handler, "AAPL")
    sdk.subscribe_daily_bars(handler, "AAPL")
    runner = asyncio.create_task(sdk._run_forever())
    try:
        await stream.wait_for_subscribers("AAPL", "dailyBars")
        bar = minute_bars(OPEN, [Decimal("190.10")])[0]
        assert stream.emit_bars([("AAPL", bar), ("MSFT", bar)]) == 1  # MSFT: nobody subscribed
        stream.emit_updated_bars(
            [("AAPL", DataBar(OPEN, bar.open, bar.high, bar.low, Decimal("190.12"), 1500))]
        )
        stream.emit_daily_bars([("AAPL", bar)])
        await stream.wait_until(lambda: len(received) == 3, "three bars at the SDK")
    finally:
        await sdk.stop_ws()
        await asyncio.wait_for(runner, 10)
    first = received[0]
    assert (first.symbol, first.timestamp, first.open, first.close, first.volume) == (
        "AAPL",
        OPEN,
        float(bar.open),
        190.10,
        float(bar.volume),
    )
    assert received[1].close == 190.12 and received[1].volume == 1500
    connection = stream.connections()[0]
    # What the SDK really sends: MessagePack (asked by header), auth, then one subscribe for all channels.
    assert connection.msgpack and connection.headers["content-type"] == "application/msgpack"
    assert connection.received[0] == {"action": "auth", "key": stream.api_key, "secret": stream.secret_key}
    subscribe = connection.received[1]
    assert subscribe["action"] == "subscribe"
    assert (subscribe["bars"], subscribe["updatedBars"], subscribe["dailyBars"]) == (
        ["AAPL"],
        ["AAPL"],
        ["AAPL"],
    )


async def test_json_session_control_messages_and_errors(
    stream: AlpacaDataStreamEmulator, stream_server: EmulatorServer
) -> None:
    async with json_client(stream_server) as client:
        await client.send(json.dumps({"action": "subscribe", "bars": ["AAPL"]}))
        assert await receive(client) == [{"T": "error", "code": 401, "msg": "not authenticated"}]
        await client.send(json.dumps({"action": "auth", "key": stream.api_key, "secret": "wrong"}))
        assert await receive(client) == [{"T": "error", "code": 402, "msg": "auth failed"}]
        assert await authenticate(client, stream) == [{"T": "success", "msg": "authenticated"}]
        assert await authenticate(client, stream) == [
            {"T": "error", "code": 403, "msg": "already authenticated"}
        ]
        await client.send("{not json")
        assert await receive(client) == [{"T": "error", "code": 400, "msg": "invalid syntax"}]
        await client.send(
            json.dumps({"action": "subscribe", "bars": ["aapl", "MSFT"], "dailyBars": ["AAPL"]})
        )
        assert await receive(client) == [
            {
                "T": "subscription",
                "trades": [],
                "quotes": [],
                "bars": ["AAPL", "MSFT"],
                "updatedBars": [],
                "dailyBars": ["AAPL"],
                "statuses": [],
                "lulds": [],
                "corrections": [],
                "cancelErrors": [],
            }
        ]
        await client.send(json.dumps({"action": "unsubscribe", "bars": ["MSFT"]}))
        assert (await receive(client))[0]["bars"] == ["AAPL"]
        stream.fail_next_message(500)
        await client.send(json.dumps({"action": "subscribe", "bars": ["IBM"]}))
        assert await receive(client) == [{"T": "error", "code": 500, "msg": "internal error"}]
        bar = minute_bars(OPEN, [Decimal("190.10")])[0]
        stream.emit_bars([("AAPL", bar)])
        assert await receive(client) == [
            {
                "T": "b",
                "S": "AAPL",
                "o": 190.1,
                "h": 190.15,
                "l": 190.05,
                "c": 190.1,
                "v": 1000,
                "t": "2024-01-02T14:30:00Z",
                "n": 10,
                "vw": 190.1,
            }
        ]


async def test_one_connection_per_key_and_feed(
    stream: AlpacaDataStreamEmulator, stream_server: EmulatorServer
) -> None:
    async with json_client(stream_server) as first:
        assert (await authenticate(first, stream))[0]["msg"] == "authenticated"
        async with json_client(stream_server) as second:
            assert await authenticate(second, stream) == [
                {"T": "error", "code": 406, "msg": "connection limit exceeded"}
            ]
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(second.recv(), 5)
        # Another feed is another endpoint; the first connection keeps streaming.
        async with json_client(stream_server, "test") as other_feed:
            assert (await authenticate(other_feed, stream))[0]["msg"] == "authenticated"
        await first.send(json.dumps({"action": "subscribe", "bars": ["AAPL"]}))
        assert (await receive(first))[0]["T"] == "subscription"


async def test_sip_without_the_plan_is_refused_and_closed(
    alpaca: AlpacaEmulator, stream_server: EmulatorServer, stream: AlpacaDataStreamEmulator
) -> None:
    stream.sip_allowed = False
    async with json_client(stream_server, "sip") as client:
        assert await authenticate(client, stream) == [
            {"T": "error", "code": 409, "msg": "insufficient subscription"}
        ]
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(client.recv(), 5)


async def test_no_auth_in_time_and_too_many_symbols(
    stream: AlpacaDataStreamEmulator, stream_server: EmulatorServer
) -> None:
    async with json_client(stream_server) as client:
        assert await receive(client) == [{"T": "error", "code": 404, "msg": "auth timeout"}]
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(client.recv(), 5)
    stream.symbol_limit = 2
    async with json_client(stream_server) as client:
        await authenticate(client, stream)
        await client.send(json.dumps({"action": "subscribe", "bars": ["AAPL", "MSFT", "IBM"]}))
        assert await receive(client) == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]


async def test_a_dropped_connection_closes_with_an_error_code(
    stream: AlpacaDataStreamEmulator, stream_server: EmulatorServer
) -> None:
    async with json_client(stream_server) as client:
        await authenticate(client, stream)
        assert stream.drop_connections() == 1
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(client.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


async def test_streamed_bars_are_what_rest_serves_afterwards(
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    stream: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
) -> None:
    bars = minute_bars(OPEN, [Decimal("190.10"), Decimal("190.20")])
    stream.emit_bars([("AAPL", bar) for bar in bars])  # nobody connected: stored only
    corrected = DataBar(bars[1].at, bars[1].open, bars[1].high, bars[1].low, Decimal("190.25"), 1200)
    stream.emit_updated_bars([("AAPL", corrected)])
    client = StockHistoricalDataClient(alpaca.api_key, alpaca.secret_key, url_override=alpaca_server.base_url)
    served = await asyncio.to_thread(
        client.get_stock_bars,
        StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Minute, start=OPEN, feed=DataFeed.IEX),
    )
    rows = served.data["AAPL"]
    assert [(row.timestamp, row.close, row.volume) for row in rows] == [
        (OPEN, 190.10, 1000.0),
        (bars[1].at, 190.25, 1200.0),
    ]
