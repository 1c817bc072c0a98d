"""Local emulator of Alpaca's real-time stock market-data websocket (v2), for the official alpaca-py
`StockDataStream` and our own stream adapter.

Serve `AlpacaDataStreamEmulator(rest=AlpacaEmulator(...)).app` with `EmulatorServer` and connect to
`ws://127.0.0.1:<port>/v2/iex` (also `/v2/sip`, `/v2/delayed_sip`, `/v2/test`). Given the REST emulator,
it shares its bar store: every bar emitted here is also what `/v2/stocks/bars` serves afterwards, so a
client that missed a bar while disconnected finds it by REST backfill, as with the real service.

The protocol (Alpaca's "Real-time Stock Pricing Data" / "WebSocket Stream" documentation, and alpaca-py's
`alpaca/data/live/websocket.py` for what the SDK sends and expects):
- on connect: `[{"T":"success","msg":"connected"}]`; then `{"action":"auth","key","secret"}` (or the
  APCA-API-KEY-ID / APCA-API-SECRET-KEY headers) -> `[{"T":"success","msg":"authenticated"}]`, or
  `[{"T":"error","code":402,"msg":"auth failed"}]`; no auth within `auth_timeout_seconds` (10 s
  documented) -> 404 "auth timeout" and the connection is closed;
- errors `{"T":"error","code","msg"}` as documented: 400 invalid syntax, 401 not authenticated, 402 auth
  failed, 403 already authenticated, 404 auth timeout, 405 symbol limit exceeded, 406 connection limit
  exceeded (one connection per key and feed: a second one is refused at authentication and closed, the
  first keeps streaming), 409 insufficient subscription (sip without the plan: closed), 500 internal error;
- `{"action":"subscribe"|"unsubscribe", "trades":[...], "quotes":[...], "bars":[...], "updatedBars":[...],
  "dailyBars":[...], "statuses":[...], "lulds":[...]}` -> `[{"T":"subscription", ...}]` listing every
  channel (corrections and cancelErrors follow trades, as documented);
- bars `{"T":"b","S","o","h","l","c","v","t","n","vw"}`, updated bars `T:"u"` and daily bars `T:"d"` with
  the same fields; control messages arrive alone, data messages in arrays of one or more;
- encoding: JSON text frames, or MessagePack binary frames when the client connects with
  `Content-Type: application/msgpack` (what alpaca-py sends); in MessagePack `t` is a MessagePack
  timestamp (alpaca-py calls `.to_datetime()` on it), in JSON an RFC-3339 string. Client messages are
  read in either encoding.

Test controls (callable from the test's thread): `emit_bars`, `emit_updated_bars`, `emit_daily_bars`,
`send_messages` (any dicts, e.g. an unknown type), `send_raw` (any frame, e.g. broken bytes),
`drop_connections` (the server closes every socket, code 1011), `refuse_handshakes_with = 503` (an
outage: every new connection is refused at the handshake until set back to None),
`fail_next_message(code, msg)`;
`connections()` / `await wait_until()` to observe what clients did.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.emulators.alpaca import AlpacaEmulator, DataBar

FEEDS = frozenset({"iex", "sip", "delayed_sip", "test"})
CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")
# Documented: trade corrections and cancel errors come with a trades subscription.
FOLLOW_TRADES = ("corrections", "cancelErrors")
BAR_CHANNELS = {"b": "bars", "u": "updatedBars", "d": "dailyBars"}
REST_TIMEFRAMES = {"b": "1Min", "u": "1Min", "d": "1Day"}
ERRORS = {
    400: "invalid syntax",
    401: "not authenticated",
    402: "auth failed",
    403: "already authenticated",
    404: "auth timeout",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    409: "insufficient subscription",
    500: "internal error",
}
SEND_TIMEOUT_SECONDS = 5.0
WAIT_SECONDS = 10.0


def error_message(code: int, message: str | None = None) -> dict[str, Any]:
    return {"T": "error", "code": code, "msg": message or ERRORS[code]}


@dataclass
class Connection:
    """One client socket, as the emulator sees it."""

    number: int
    feed: str
    msgpack: bool
    headers: dict[str, str]
    websocket: WebSocket
    loop: asyncio.AbstractEventLoop
    key: str | None = None
    authenticated: bool = False
    open: bool = True
    subscriptions: dict[str, set[str]] = field(default_factory=lambda: {name: set() for name in CHANNELS})
    received: list[Any] = field(default_factory=list)
    sent: list[Any] = field(default_factory=list)

    def wants(self, channel: str, symbol: str) -> bool:
        chosen = self.subscriptions[channel]
        return symbol in chosen or "*" in chosen

    def acknowledgement(self) -> dict[str, Any]:
        lists = {name: sorted(self.subscriptions[name]) for name in CHANNELS}
        for name in FOLLOW_TRADES:
            lists[name] = sorted(self.subscriptions["trades"])
        return {"T": "subscription", **lists}


class AlpacaDataStreamEmulator:
    def __init__(
        self,
        rest: AlpacaEmulator | None = None,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        sip_allowed: bool | None = None,
        symbol_limit: int | None = None,
        auth_timeout_seconds: float = 10.0,
    ) -> None:
        self.rest = rest
        self.api_key = api_key or (rest.api_key if rest else "test-alpaca-key")
        self.secret_key = secret_key or (rest.secret_key if rest else "test-alpaca-secret")
        self.sip_allowed = sip_allowed if sip_allowed is not None else (rest.sip_allowed if rest else True)
        self.symbol_limit = symbol_limit
        self.auth_timeout_seconds = auth_timeout_seconds
        self._lock = threading.Lock()
        self._connections: list[Connection] = []
        self._failures: list[tuple[int, str | None]] = []
        # A status to refuse every handshake with (an outage: e.g. 503), None to accept.
        self.refuse_handshakes_with: int | None = None
        self.app = Starlette(routes=[WebSocketRoute("/v2/{feed}", self._session)])

    # ================================================================== test controls

    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._connections)

    def open_connections(self) -> list[Connection]:
        return [connection for connection in self.connections() if connection.open]

    async def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait on the caller's event loop (where the client under test runs) until `condition`."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream emulator: {what} not reached within {WAIT_SECONDS} s")
            await asyncio.sleep(0.01)

    async def wait_for_subscribers(self, symbol: str, channel: str = "bars", count: int = 1) -> None:
        await self.wait_until(
            lambda: (
                sum(1 for c in self.open_connections() if c.authenticated and c.wants(channel, symbol))
                >= count
            ),
            f"{count} subscriber(s) of {channel} {symbol}",
        )

    def emit_bars(self, bars: Iterable[tuple[str, DataBar]]) -> int:
        """Minute bars: stored for REST, then sent to every subscriber; returns the messages sent."""
        return self._emit("b", bars)

    def emit_updated_bars(self, bars: Iterable[tuple[str, DataBar]]) -> int:
        """Corrections of minute bars already sent (the stored bar is replaced for REST too)."""
        return self._emit("u", bars)

    def emit_daily_bars(self, bars: Iterable[tuple[str, DataBar]]) -> int:
        return self._emit("d", bars)

    def send_messages(self, messages: Sequence[dict[str, Any]]) -> None:
        """Any messages, in each client's encoding, to every authenticated client (one frame)."""
        for connection in self._authenticated():
            self._call(connection, self._send(connection, list(messages)))

    def send_raw(self, frame: bytes | str) -> None:
        """A frame exactly as given (broken bytes, text that is not JSON) to every authenticated client."""
        for connection in self._authenticated():
            self._call(connection, _send_frame(connection, frame))

    def drop_connections(self) -> int:
        """Close every open socket from the server side (code 1011), as the real service may."""
        dropped = 0
        for connection in self.open_connections():
            connection.open = False
            self._call(connection, connection.websocket.close(code=1011))
            dropped += 1
        return dropped

    def fail_next_message(self, code: int = 500, message: str | None = None) -> None:
        """The next client message anyone sends is answered with this error instead of being handled."""
        with self._lock:
            self._failures.append((code, message))

    # ================================================================== plumbing

    def _authenticated(self) -> list[Connection]:
        return [connection for connection in self.open_connections() if connection.authenticated]

    @staticmethod
    def _call(connection: Connection, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, connection.loop).result(SEND_TIMEOUT_SECONDS)

    def _emit(self, kind: str, bars: Iterable[tuple[str, DataBar]]) -> int:
        items = list(bars)
        if self.rest is not None:
            for symbol, bar in items:
                self.rest.seed_bars(symbol, REST_TIMEFRAMES[kind], [bar])
        channel = BAR_CHANNELS[kind]
        sent = 0
        for connection in self._authenticated():
            messages = [
                _bar_message(kind, symbol, bar) for symbol, bar in items if connection.wants(channel, symbol)
            ]
            if messages:
                self._call(connection, self._send(connection, messages))
                sent += len(messages)
        return sent

    async def _send(self, connection: Connection, messages: list[dict[str, Any]]) -> None:
        connection.sent.extend(messages)
        if connection.msgpack:
            frame: bytes | str = msgpack.packb(
                [_for_msgpack(message) for message in messages], datetime=False
            )
        else:
            frame = json.dumps(messages, separators=(",", ":"))
        await _send_frame(connection, frame)

    async def _reply(self, connection: Connection, message: dict[str, Any]) -> None:
        # Control messages always arrive alone.
        await self._send(connection, [message])

    async def _refuse(self, connection: Connection, code: int) -> None:
        await self._reply(connection, error_message(code))
        connection.open = False
        await connection.websocket.close()

    async def _session(self, websocket: WebSocket) -> None:
        feed = websocket.path_params["feed"]
        if feed not in FEEDS:
            await websocket.close(code=1008)
            return
        headers = {key.lower(): value for key, value in websocket.headers.items()}
        refusal = self.refuse_handshakes_with
        if refusal is not None:
            await websocket.send_denial_response(
                JSONResponse({"code": refusal, "message": "service unavailable"}, status_code=refusal)
            )
            return
        await websocket.accept()
        with self._lock:
            connection = Connection(
                number=len(self._connections) + 1,
                feed=feed,
                msgpack="application/msgpack" in headers.get("content-type", ""),
                headers=headers,
                websocket=websocket,
                loop=asyncio.get_running_loop(),
            )
            self._connections.append(connection)
        try:
            await self._reply(connection, {"T": "success", "msg": "connected"})
            if "apca-api-key-id" in headers:
                await self._authenticate(
                    connection, headers["apca-api-key-id"], headers.get("apca-api-secret-key")
                )
            await self._serve(connection)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away, or the server closed it while a send was under way
        finally:
            connection.open = False

    async def _serve(self, connection: Connection) -> None:
        deadline = connection.loop.time() + self.auth_timeout_seconds
        while connection.open:
            timeout = None if connection.authenticated else max(deadline - connection.loop.time(), 0)
            try:
                message = await asyncio.wait_for(connection.websocket.receive(), timeout)
            except TimeoutError:
                await self._refuse(connection, 404)
                return
            if message["type"] == "websocket.disconnect":
                return
            await self._handle(connection, message.get("bytes"), message.get("text"))

    async def _handle(self, connection: Connection, data: bytes | None, text: str | None) -> None:
        payload = _decode(data, text)
        connection.received.append(payload)
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            await self._reply(connection, error_message(*failure))
            return
        if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
            await self._reply(connection, error_message(400))
            return
        action = payload["action"]
        if action == "auth":
            if connection.authenticated:
                await self._reply(connection, error_message(403))
                return
            await self._authenticate(connection, payload.get("key"), payload.get("secret"))
        elif not connection.authenticated:
            await self._reply(connection, error_message(401))
        elif action in ("subscribe", "unsubscribe"):
            await self._subscription(connection, action, payload)
        else:
            await self._reply(connection, error_message(400))

    async def _authenticate(self, connection: Connection, key: Any, secret: Any) -> None:
        if key != self.api_key or secret != self.secret_key:
            await self._reply(connection, error_message(402))
            return
        if connection.feed == "sip" and not self.sip_allowed:
            await self._refuse(connection, 409)
            return
        with self._lock:
            taken = any(
                other is not connection
                and other.open
                and other.authenticated
                and other.key == key
                and other.feed == connection.feed
                for other in self._connections
            )
        if taken:
            await self._refuse(connection, 406)
            return
        connection.key = key
        connection.authenticated = True
        await self._reply(connection, {"T": "success", "msg": "authenticated"})

    async def _subscription(self, connection: Connection, action: str, payload: dict[str, Any]) -> None:
        changes: dict[str, list[str]] = {}
        for channel in CHANNELS:
            symbols = payload.get(channel, [])
            if not isinstance(symbols, list) or not all(isinstance(item, str) for item in symbols):
                await self._reply(connection, error_message(400))
                return
            changes[channel] = [symbol.upper() if symbol != "*" else symbol for symbol in symbols]
        if action == "subscribe":
            wanted = {symbol for channel in CHANNELS for symbol in connection.subscriptions[channel]}
            wanted |= {symbol for symbols in changes.values() for symbol in symbols}
            if self.symbol_limit is not None and len(wanted - {"*"}) > self.symbol_limit:
                await self._reply(connection, error_message(405))
                return
            for channel, symbols in changes.items():
                connection.subscriptions[channel].update(symbols)
        else:
            for channel, symbols in changes.items():
                connection.subscriptions[channel].difference_update(symbols)
        await self._reply(connection, connection.acknowledgement())


async def _send_frame(connection: Connection, frame: bytes | str) -> None:
    if isinstance(frame, bytes):
        await connection.websocket.send_bytes(frame)
    else:
        await connection.websocket.send_text(frame)


def _decode(data: bytes | None, text: str | None) -> Any:
    """A client message in either encoding; None when it is neither (answered 400 invalid syntax)."""
    try:
        if data is not None:
            return msgpack.unpackb(data)
        return json.loads(text or "")
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None


def _bar_message(kind: str, symbol: str, bar: DataBar) -> dict[str, Any]:
    return {"T": kind, "S": symbol, **bar.as_json()}


def _for_msgpack(message: dict[str, Any]) -> dict[str, Any]:
    stamp = message.get("t")
    if not isinstance(stamp, str):
        return message
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    return {**message, "t": msgpack.Timestamp.from_datetime(moment)}
