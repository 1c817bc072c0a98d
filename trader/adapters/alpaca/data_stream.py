"""Alpaca's real-time stock market-data websocket as a `BarStream`: minute bars, updated bars
(corrections) and daily bars of the watchlist, on the feed chosen by ALPACA_DATA_FEED.

Why not alpaca-py's `StockDataStream`: the protocol is the one the SDK speaks (the same URL, auth and
subscribe messages, MessagePack frames asked for with the same header; our emulator is tested with the
SDK itself), but the SDK does not fit a service that must say what its stream is doing. Its
`subscribe_*` calls block on `run_coroutine_threadsafe(...).result()`, so changing the symbols from
the loop it runs on deadlocks; auth failures, a refused feed and the connection limit end up in a log
line while it retries every 1-30 s, with no state or reason to show in /health; it gives no hook
after a reconnect (when a backfill must run); and a frame it cannot decode disappears into a logged
exception, uncounted. So this adapter speaks the protocol directly over the `websockets` package
(the SDK's own transport) on the service's event loop.

Failures are of two kinds. Transient ones (the socket drops, the server answers 500, a timeout)
reconnect with exponential backoff and jitter. Refusals that will not change by retrying soon
(402 auth failed, 405 symbol limit, 406 connection limit — another process holds the one connection
per account and feed —, 409 insufficient subscription) put the stream in REFUSED with the provider's
reason and retry only after `refused_retry_seconds`: no tight loop, never a fight over the socket.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from trader.adapters.alpaca.stream_messages import decode_frame, decode_messages, encode
from trader.core.ports import Clock
from trader.core.sessions import MarketCalendar
from trader.core.streams import BarStreamSink, StreamState, StreamStatus, reconnect_delay

log = logging.getLogger("trader.adapters.alpaca.data_stream")
DEFAULT_STREAM_URL = "wss://stream.data.alpaca.markets"
STREAM_NAME = "alpaca_bars"
CHANNELS = ("bars", "updatedBars", "dailyBars")
# The provider's answers that retrying soon cannot change.
REFUSALS = {
    402: "auth failed",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    409: "insufficient subscription",
}


class StreamRefusedError(Exception):
    """The provider refused the session (keys, plan, connection limit); the message is its reason."""


class StreamProtocolError(Exception):
    """An answer out of protocol (an unexpected message or an error code worth a plain reconnect)."""


@dataclass(frozen=True, slots=True)
class StreamTimings:
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0
    refused_retry_seconds: float = 300.0
    answer_timeout_seconds: float = 10.0


class AlpacaBarStream:
    def __init__(
        self,
        api_key: str,
        secret_key: str,
        calendar: MarketCalendar,
        clock: Clock,
        *,
        feed: str = "iex",
        url: str = DEFAULT_STREAM_URL,
        use_msgpack: bool = True,
        timings: StreamTimings | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._key = api_key
        self._secret = secret_key
        self._calendar = calendar
        self._clock = clock
        self._url = f"{url.rstrip('/')}/v2/{feed.lower()}"
        self._msgpack = use_msgpack
        self._timings = timings or StreamTimings()
        self._jitter = jitter
        self._status = StreamStatus(STREAM_NAME, feed.lower(), state_since=clock.now())
        self._wanted: set[str] = set()
        self._subscribed: set[str] = set()
        self._socket: ClientConnection | None = None
        self._symbols_known = asyncio.Event()
        self._streamed = False

    @property
    def name(self) -> str:
        return STREAM_NAME

    @property
    def url(self) -> str:
        return self._url

    def status(self) -> StreamStatus:
        return self._status

    async def subscribe(self, symbols: Sequence[str]) -> None:
        self._wanted = {symbol.upper() for symbol in symbols}
        self._symbols_known.set()
        if self._socket is not None and self._status.state is StreamState.STREAMING:
            await self._send_subscription_changes(self._socket)

    async def run(self, sink: BarStreamSink) -> None:
        attempt = 0
        try:
            while True:
                await self._symbols_known.wait()
                self._streamed = False
                try:
                    await self._session(sink)
                    attempt = 1 if self._streamed else attempt + 1
                    delay = self._backoff(attempt, "the server closed the connection")
                except StreamRefusedError as refusal:
                    attempt = 0
                    delay = self._timings.refused_retry_seconds
                    self._change(StreamState.REFUSED, f"refused by Alpaca: {refusal}")
                    log.error("%s: %s; next attempt in %.0f s", self._url, self._status.reason, delay)
                except (OSError, TimeoutError, websockets.WebSocketException, StreamProtocolError) as error:
                    # A connection that streamed before it failed starts the backoff afresh.
                    attempt = 1 if self._streamed else attempt + 1
                    delay = self._backoff(attempt, f"{type(error).__name__}: {error}")
                self._status.next_attempt_at = self._clock.now() + timedelta(seconds=delay)
                await asyncio.sleep(delay)
        finally:
            self._change(StreamState.STOPPED, "stopped")

    def _backoff(self, attempt: int, reason: str) -> float:
        timings = self._timings
        delay = reconnect_delay(
            attempt, timings.reconnect_min_seconds, timings.reconnect_max_seconds, self._jitter()
        )
        self._change(StreamState.RECONNECTING, reason)
        log.warning("%s: %s; reconnecting in %.1f s (attempt %d)", self._url, reason, delay, attempt)
        return delay

    def _change(self, state: StreamState, reason: str) -> None:
        if state is not self._status.state or reason != self._status.reason:
            self._status.state_since = self._clock.now()
        self._status.state = state
        self._status.reason = reason

    async def _session(self, sink: BarStreamSink) -> None:
        """One connection, from connect to close."""
        self._change(StreamState.CONNECTING, f"connecting to {self._url}")
        headers = {"Content-Type": "application/msgpack"} if self._msgpack else {}
        async with connect(
            self._url,
            additional_headers=headers,
            open_timeout=self._timings.answer_timeout_seconds,
            ping_interval=10,
            ping_timeout=30,
            max_size=None,
        ) as socket:
            await self._expect(socket, "success", "connected")
            await socket.send(
                encode(
                    {"action": "auth", "key": self._key, "secret": self._secret}, use_msgpack=self._msgpack
                )
            )
            await self._expect(socket, "success", "authenticated")
            self._subscribed = set()
            if await self._send_subscription_changes(socket):
                await self._expect(socket, "subscription", None)
            self._socket = socket
            try:
                self._started()
                await sink.stream_connected()
                async for frame in socket:
                    await self._deliver(frame, sink)
            finally:
                self._socket = None

    def _started(self) -> None:
        self._streamed = True
        self._status.connections += 1
        self._status.connected_at = self._clock.now()
        self._status.next_attempt_at = None
        self._change(StreamState.STREAMING, f"{len(self._subscribed)} symbols subscribed")
        log.info(
            "%s: streaming %d symbols (%s)",
            self._url,
            len(self._subscribed),
            "msgpack" if self._msgpack else "json",
        )

    async def _expect(self, socket: ClientConnection, kind: str, message: str | None) -> None:
        """Read the one control message the protocol answers with next."""
        frame = await asyncio.wait_for(socket.recv(), self._timings.answer_timeout_seconds)
        self._status.last_message_at = self._clock.now()
        for answer in decode_messages(frame):
            self._raise_if_error(answer)
            if answer.get("T") == kind and (message is None or answer.get("msg") == message):
                if kind == "subscription":
                    self._status.subscribed = len(answer.get("bars") or [])
                return
            raise StreamProtocolError(f"expected {kind} {message or ''}, got {str(answer)[:200]}")

    @staticmethod
    def _raise_if_error(answer: dict[str, Any]) -> None:
        if answer.get("T") != "error":
            return
        code = answer.get("code")
        text = f"{answer.get('msg', 'error')} ({code})"
        if code in REFUSALS:
            raise StreamRefusedError(text)
        raise StreamProtocolError(f"Alpaca answered {text}")

    async def _send_subscription_changes(self, socket: ClientConnection) -> int:
        """Subscribe the added symbols and unsubscribe the removed ones; the messages sent (each is
        acknowledged)."""
        added = sorted(self._wanted - self._subscribed)
        removed = sorted(self._subscribed - self._wanted)
        sent = 0
        for action, symbols in (("subscribe", added), ("unsubscribe", removed)):
            if symbols:
                message = {"action": action, **{channel: symbols for channel in CHANNELS}}
                await socket.send(encode(message, use_msgpack=self._msgpack))
                sent += 1
        self._subscribed = set(self._wanted)
        return sent

    async def _deliver(self, frame: bytes | str, sink: BarStreamSink) -> None:
        status = self._status
        status.last_message_at = self._clock.now()
        decoded = decode_frame(frame, self._calendar)
        status.messages += len(decoded.control) + len(decoded.bars) + len(decoded.rejected)
        for rejected in decoded.rejected:
            status.rejected[rejected.reason.value] += 1
            sink.stream_rejected(rejected.reason, rejected.message)
        for control in decoded.control:
            if control.get("T") == "subscription":
                status.subscribed = len(control.get("bars") or [])
            elif control.get("T") == "error":
                # An error while streaming (a refused subscription change, an internal error):
                # a refusal ends the session, anything else is logged and the stream goes on.
                try:
                    self._raise_if_error(control)
                except StreamProtocolError as error:
                    log.warning("%s: %s", self._url, error)
        if decoded.bars:
            for bar in decoded.bars:
                status.bars[bar.kind.value] += 1
            await sink.stream_bars(decoded.bars)
