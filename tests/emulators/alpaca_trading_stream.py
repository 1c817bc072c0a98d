"""Alpaca's `trade_updates` websocket (wss://paper-api.alpaca.markets/stream), served beside the REST
emulator and fed by its own order life cycle, so the stream and REST always tell the same story.

`AlpacaEmulator` owns one `TradingStreamHub`, mounts it at `/stream` and calls `publish` whenever
one of its orders changes (accepted, filled, canceled, expired, rejected, replaced...). Point
alpaca-py's `TradingStream(key, secret, url_override="ws://127.0.0.1:<port>/stream")`, or our own
adapter, at it.

The protocol, from Alpaca's "Websocket Streaming" page and alpaca-py's `alpaca/trading/stream.py`:
- the client authenticates with `{"action": "authenticate", "data": {"key_id", "secret_key"}}`
  (what alpaca-py sends) or `{"action": "auth", "key", "secret"}` (the documented form); the
  answer is `{"stream": "authorization", "data": {"status": "authorized"|"unauthorized",
  "action": "authenticate"}}`;
- `{"action": "listen", "data": {"streams": [...]}}` is acknowledged on the `listening` stream with
  the streams that exist (only `trade_updates`); a listen before authorizing is answered
  `{"stream": "authorization", "data": {"status": "unauthorized", "action": "listen"}}`;
- updates are `{"stream": "trade_updates", "data": {"event", "timestamp", "order", ...}}` (the
  documentation names `timestamp` for fills, cancels, expiries, replacements and rejections;
  alpaca-py's `TradeUpdate` model requires it on every event, so every event carries it), with
  `price`, `qty`, `position_qty` and `execution_id` on fills (amounts as strings, as in the
  documented example);
- the paper stream sends binary frames (JSON inside), unlike the data stream's text frames; a
  client that connects with `Content-Type: application/msgpack` gets MessagePack frames; set
  `binary_frames=False` for text frames;
- in-stream errors are `{"action": "error", "data": {"error_message": ...}}` before the server
  closes the connection.
- One trade_updates connection per account: a second one while the first is open is refused at
  the handshake with HTTP 429 (alpaca-py issue #740, QuantConnect's Alpaca brokerage #37/#39).

Our choices where the sources say nothing: after "unauthorized" the server closes the connection
(code 1008); a message that does not parse gets the error message above and the connection is
closed (code 1003); `drop()` closes every connection with code 1011 without a goodbye.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

STREAM = "trade_updates"
MSGPACK = "application/msgpack"


@dataclass(eq=False)
class _Connection:
    websocket: WebSocket
    loop: asyncio.AbstractEventLoop
    msgpack: bool
    binary: bool
    outbox: asyncio.Queue[bytes | str | None] = field(default_factory=asyncio.Queue)
    authorized: bool = False
    streams: tuple[str, ...] = ()

    def encode(self, message: dict[str, Any]) -> bytes | str:
        if self.msgpack:
            packed: bytes = msgpack.packb(message)
            return packed
        text = json.dumps(message)
        return text.encode() if self.binary else text

    def post(self, frame: bytes | str | None) -> None:
        """Queue a frame from any thread (None closes the connection)."""
        self.loop.call_soon_threadsafe(self.outbox.put_nowait, frame)


class TradingStreamHub:
    def __init__(self, api_key: str, secret_key: str, *, binary_frames: bool = True) -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self.binary_frames = binary_frames
        # A status to refuse every handshake with (e.g. 503 for an outage), None to accept.
        self.refuse_handshakes_with: int | None = None
        self.handshakes = 0
        self.updates: list[dict[str, Any]] = []
        self._connections: list[_Connection] = []
        self._close_codes: dict[int, int] = {}
        self._lock = threading.Lock()

    def route(self) -> WebSocketRoute:
        return WebSocketRoute("/stream", self._serve)

    # ================================================================== test controls

    @property
    def listening(self) -> int:
        """Connections authorized and listening to trade_updates."""
        with self._lock:
            return sum(1 for c in self._connections if c.authorized and STREAM in c.streams)

    def publish(self, update: dict[str, Any]) -> None:
        """Send one trade update (the `data` object) to every listening connection, in call order."""
        message = {"stream": STREAM, "data": update}
        with self._lock:
            self.updates.append(update)
            for connection in self._connections:
                if connection.authorized and STREAM in connection.streams:
                    connection.post(connection.encode(message))

    def send_raw(self, frame: bytes | str) -> None:
        """A frame as given to every listening connection (how does a client take a bad one?)."""
        with self._lock:
            for connection in self._connections:
                if connection.authorized and STREAM in connection.streams:
                    connection.post(frame)

    def drop(self, code: int = 1011) -> int:
        """Cut every connection (the client sees it closed with `code`); returns how many."""
        with self._lock:
            connections = list(self._connections)
            for connection in connections:
                self._close_codes[id(connection)] = code
                connection.post(None)
        return len(connections)

    def send_error(self, message: str) -> None:
        """An in-stream error on every connection, then the server closes them."""
        with self._lock:
            for connection in self._connections:
                connection.post(connection.encode({"action": "error", "data": {"error_message": message}}))
                self._close_codes[id(connection)] = 1011
                connection.post(None)

    # ================================================================== the socket

    async def _serve(self, websocket: WebSocket) -> None:
        with self._lock:
            self.handshakes += 1
            refusal = self.refuse_handshakes_with
            if refusal is None and self._connections:
                refusal = 429  # one trade_updates connection per account
        if refusal is not None:
            await websocket.send_denial_response(
                JSONResponse({"code": refusal, "message": "connection refused"}, status_code=refusal)
            )
            return
        await websocket.accept()
        connection = _Connection(
            websocket,
            asyncio.get_running_loop(),
            msgpack=websocket.headers.get("content-type", "").lower() == MSGPACK,
            binary=self.binary_frames,
        )
        with self._lock:
            self._connections.append(connection)
        sender = asyncio.create_task(self._send_frames(connection))
        try:
            await self._receive_requests(connection)
        except WebSocketDisconnect:
            pass
        finally:
            with self._lock:
                self._connections.remove(connection)
            connection.outbox.put_nowait(None)
            await sender

    async def _send_frames(self, connection: _Connection) -> None:
        try:
            while (frame := await connection.outbox.get()) is not None:
                if isinstance(frame, bytes):
                    await connection.websocket.send_bytes(frame)
                else:
                    await connection.websocket.send_text(frame)
            code = self._close_codes.pop(id(connection), None)
            if code is not None:
                await connection.websocket.close(code=code)
        except Exception:  # the client went away first: what was queued for it is dropped
            return

    async def _receive_requests(self, connection: _Connection) -> None:
        while True:
            message = await connection.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            request = _decode(message, msgpack_codec=connection.msgpack)
            if request is None:
                self._answer(connection, {"action": "error", "data": {"error_message": "invalid syntax"}})
                self._close(connection, 1003)
                return
            action = request.get("action")
            if action in ("authenticate", "auth"):
                self._authenticate(connection, request)
            elif action == "listen":
                self._listen(connection, request)
            else:
                self._answer(connection, {"action": "error", "data": {"error_message": "invalid action"}})

    def _authenticate(self, connection: _Connection, request: dict[str, Any]) -> None:
        data = _mapping(request.get("data"))
        key = data.get("key_id", request.get("key"))
        secret = data.get("secret_key", request.get("secret"))
        connection.authorized = key == self.api_key and secret == self.secret_key
        status = "authorized" if connection.authorized else "unauthorized"
        self._answer(
            connection, {"stream": "authorization", "data": {"status": status, "action": "authenticate"}}
        )
        if not connection.authorized:
            self._close(connection, 1008)

    def _listen(self, connection: _Connection, request: dict[str, Any]) -> None:
        if not connection.authorized:
            answer = {"stream": "authorization", "data": {"status": "unauthorized", "action": "listen"}}
            self._answer(connection, answer)
            return
        wanted = _mapping(request.get("data")).get("streams")
        wanted = wanted if isinstance(wanted, list) else []
        with self._lock:
            connection.streams = tuple(stream for stream in wanted if stream == STREAM)
        self._answer(connection, {"stream": "listening", "data": {"streams": list(connection.streams)}})

    def _answer(self, connection: _Connection, message: dict[str, Any]) -> None:
        connection.outbox.put_nowait(connection.encode(message))

    def _close(self, connection: _Connection, code: int) -> None:
        self._close_codes[id(connection)] = code
        connection.outbox.put_nowait(None)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decode(message: Mapping[str, Any], *, msgpack_codec: bool) -> dict[str, Any] | None:
    raw = message.get("bytes") if message.get("bytes") is not None else message.get("text")
    try:
        packed = msgpack_codec and isinstance(raw, bytes)
        decoded = msgpack.unpackb(raw) if packed else json.loads(raw or "")
    except (ValueError, msgpack.UnpackException):
        return None
    return decoded if isinstance(decoded, dict) else None
