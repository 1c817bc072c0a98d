"""Alpaca's order updates (the `trade_updates` websocket) as a `trader.core.order_updates.OrderUpdateStream`.

Why not alpaca-py's `TradingStream` itself: it runs its own event loop (`run()` is `asyncio.run` on
the caller's thread, handlers run there, not in the service's loop), it reconnects and retries a
refused authentication on its own without telling anyone (no hook after a connect, so nothing
could reconcile what was missed; no state an operator could read in /health), and its model turns
prices into floats. So this adapter speaks the protocol the SDK speaks, over the library the SDK
uses (`websockets`), inside the service's loop: the same URL (`wss://paper-api.alpaca.markets/stream`
for paper, the live host otherwise, or an override), the same `authenticate` and `listen` messages,
frames read as the SDK reads them (JSON in text or binary frames). The order inside each update is
read by the REST adapter's own `order_from_json`, amounts as Decimal from their strings.

A session: connect, authenticate, listen, tell the listener (`on_connected`, where the executor
reconciles), then hand over each update. When the session ends it is retried with backoff and
jitter; a refusal (unauthorized, HTTP 401/403, or 429 because another connection holds the
account's one stream) waits far longer, so wrong keys never turn into a tight loop. A message that
cannot be used is counted and logged with the reason, and the stream goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from trader.adapters.alpaca.broker import PAPER_URL, _decimal, _time, order_from_json
from trader.adapters.backoff import ReconnectBackoff
from trader.core.broker import BrokerFill, BrokerOrder
from trader.core.money import InvalidAmountError
from trader.core.order_updates import (
    FILL_EVENTS,
    ORDER_EVENTS,
    OrderUpdate,
    OrderUpdateListener,
    StreamState,
    StreamStatus,
)
from trader.core.orders import UnknownBrokerStatusError
from trader.core.ports import Clock

log = logging.getLogger(__name__)

STREAM = "trade_updates"
PAPER_STREAM_URL = "wss://paper-api.alpaca.markets/stream"
LIVE_STREAM_URL = "wss://api.alpaca.markets/stream"
# A session that listened this long was a working one (its drop restarts the backoff).
STEADY_SECONDS = 30.0
# Handshake statuses that mean "not you, not now" rather than a network hiccup.
_REFUSING_STATUSES = frozenset({401, 403, 429})


def stream_url_for(base_url: str) -> str:
    """The trading stream that goes with a REST base URL: Alpaca's paper or live host, or the same
    host with ws(s):// for anything else (an emulator, a proxy)."""
    trimmed = base_url.rstrip("/")
    if trimmed == PAPER_URL:
        return PAPER_STREAM_URL
    if trimmed == "https://api.alpaca.markets":
        return LIVE_STREAM_URL
    scheme, _, rest = trimmed.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/stream"


class StreamRefusedError(Exception):
    """The broker refused this client (credentials, or the account's one stream is taken)."""


class UnusableMessageError(Exception):
    """A message from the stream that cannot be used; the text says why."""


class AlpacaOrderUpdates:
    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        url: str,
        clock: Clock,
        backoff: ReconnectBackoff | None = None,
        answer_timeout_seconds: float = 10.0,
        ping_interval_seconds: float = 10.0,
        ping_timeout_seconds: float = 30.0,
    ) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        self.url = url
        self._clock = clock
        self._backoff = backoff or ReconnectBackoff()
        self._answer_timeout = answer_timeout_seconds
        self._ping = (ping_interval_seconds, ping_timeout_seconds)
        self._status = StreamStatus("alpaca trade_updates", StreamState.STARTING, None, clock.now())

    @property
    def status(self) -> StreamStatus:
        return self._status

    def _set(self, state: StreamState, reason: str | None = None) -> None:
        if state is not self._status.state or reason != self._status.reason:
            self._status = replace(self._status, state=state, reason=reason, since=self._clock.now())

    async def run(self, listener: OrderUpdateListener) -> None:
        failures = 0
        try:
            while True:
                before, started = self._status, time.monotonic()
                refused = False
                try:
                    await self._session(listener)
                    reason = "the broker closed the stream"
                except StreamRefusedError as refusal:
                    refused, reason = True, str(refusal)
                except (OSError, TimeoutError, websockets.WebSocketException, UnusableMessageError) as error:
                    reason = f"{type(error).__name__}: {error}"
                # A session that delivered updates, or listened for a while, was a working one:
                # the count starts again; one dropped as soon as it was up backs off further.
                listened = (
                    self._status.connects > before.connects and time.monotonic() - started >= STEADY_SECONDS
                )
                worked = self._status.updates > before.updates or listened
                failures = 1 if worked else failures + 1
                wait = self._backoff.delay(failures, refused=refused)
                self._set(StreamState.REFUSED if refused else StreamState.RECONNECTING, reason)
                log.log(
                    logging.ERROR if refused else logging.WARNING,
                    "order-update stream %s: %s; reconnecting in %.1fs (attempt %d)",
                    "refused" if refused else "lost",
                    reason,
                    wait,
                    failures,
                )
                await asyncio.sleep(wait)
        finally:
            self._set(StreamState.STOPPED, "stopped")

    async def _session(self, listener: OrderUpdateListener) -> None:
        self._set(StreamState.CONNECTING, self._status.reason)
        try:
            socket_context = connect(
                self.url,
                open_timeout=self._answer_timeout,
                ping_interval=self._ping[0],
                ping_timeout=self._ping[1],
                max_queue=1024,
            )
            async with socket_context as socket:
                await self._authenticate(socket)
                await self._listen(socket)
                self._status = replace(self._status, connects=self._status.connects + 1)
                self._set(StreamState.LISTENING)
                log.info("order-update stream listening at %s", self.url)
                await listener.on_connected()
                await self._pump(socket, listener)
        except websockets.InvalidStatus as error:
            status = error.response.status_code
            if status in _REFUSING_STATUSES:
                raise StreamRefusedError(f"HTTP {status} at the handshake{_hint(status)}") from error
            raise

    async def _request(self, socket: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
        await socket.send(json.dumps(message))
        frame = await asyncio.wait_for(socket.recv(), timeout=self._answer_timeout)
        answer = _decoded(frame)
        if answer.get("action") == "error":
            raise StreamRefusedError(f"the broker answered an error: {answer.get('data')}")
        return answer

    async def _authenticate(self, socket: ClientConnection) -> None:
        credentials = {"key_id": self._api_key, "secret_key": self._secret_key}
        answer = await self._request(socket, {"action": "authenticate", "data": credentials})
        status = _mapping(answer.get("data")).get("status")
        if answer.get("stream") != "authorization" or status != "authorized":
            raise StreamRefusedError(
                f"authentication answered {status or answer!r}: check ALPACA_API_KEY and ALPACA_SECRET_KEY"
            )

    async def _listen(self, socket: ClientConnection) -> None:
        answer = await self._request(socket, {"action": "listen", "data": {"streams": [STREAM]}})
        streams = _mapping(answer.get("data")).get("streams")
        if answer.get("stream") != "listening" or not isinstance(streams, list) or STREAM not in streams:
            raise StreamRefusedError(f"listening to {STREAM} was not acknowledged: {answer!r}")

    async def _pump(self, socket: ClientConnection, listener: OrderUpdateListener) -> None:
        """Frames are read as they come; what arrived while the listener was busy is handed over
        as one batch, so a burst (hundreds of fills at the open) costs a few writes, not hundreds.
        Returns when the broker closes the stream; raises what ended it otherwise."""
        inbox: asyncio.Queue[OrderUpdate] = asyncio.Queue()
        reader = asyncio.create_task(self._read(socket, inbox))
        try:
            while True:
                getter = asyncio.ensure_future(inbox.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                batch = [getter.result()] if getter.done() and not getter.cancelled() else []
                while not inbox.empty():
                    batch.append(inbox.get_nowait())
                if batch:
                    await listener.on_updates(batch)
                if reader.done() and inbox.empty():
                    reader.result()  # raises the error that ended the reading, if one did
                    return
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, socket: ClientConnection, inbox: asyncio.Queue[OrderUpdate]) -> None:
        async for frame in socket:
            update = self._parsed(frame)
            if update is not None:
                inbox.put_nowait(update)

    def _parsed(self, frame: str | bytes) -> OrderUpdate | None:
        """The update a frame carries; None, counted and logged with the reason, if it carries
        none we can use (an error from the broker, an unknown stream, an update that does not add up)."""
        try:
            message = _decoded(frame)
            if message.get("action") == "error":
                log.error("order-update stream error from the broker: %s", message.get("data"))
                return None
            if message.get("stream") != STREAM:
                raise UnusableMessageError(f"unknown stream {message.get('stream')!r}")
            update = update_from(message.get("data"), received_at=self._clock.now())
        except UnusableMessageError as error:
            self._status = replace(self._status, rejected_messages=self._status.rejected_messages + 1)
            log.warning("order-update message rejected: %s: %.300r", error, frame)
            return None
        self._status = replace(
            self._status, updates=self._status.updates + 1, last_update_at=self._clock.now()
        )
        return update


def _hint(status: int) -> str:
    if status == 429:
        return ": another connection holds this account's trade_updates stream (one per account)"
    return ": check ALPACA_API_KEY and ALPACA_SECRET_KEY"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decoded(frame: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(frame)
    except ValueError as error:
        raise UnusableMessageError(f"not JSON: {error}") from error
    if not isinstance(message, dict):
        raise UnusableMessageError("not a JSON object")
    return message


def update_from(data: Any, *, received_at: datetime) -> OrderUpdate:
    """One `trade_updates` data object as an `OrderUpdate`; raises `UnusableMessageError` with
    the reason when it cannot be used (unknown event, an order or a fill that does not add up)."""
    data = _mapping(data)
    event = data.get("event")
    if event not in ORDER_EVENTS:
        raise UnusableMessageError(f"unknown event {event!r}")
    try:
        order = order_from_json(_mapping(data.get("order")))
        at = _time(data.get("timestamp")) or received_at
        position = _decimal(data.get("position_qty"))
    except (KeyError, ValueError, UnknownBrokerStatusError, InvalidAmountError) as error:
        raise UnusableMessageError(f"{event}: the order or its times cannot be read: {error!r}") from error
    fill = _fill_of(data, order, at) if event in FILL_EVENTS else None
    return OrderUpdate(event=str(event), order=order, at=at, fill=fill, position_quantity=position)


def _fill_of(data: dict[str, Any], order: BrokerOrder, at: datetime) -> BrokerFill:
    try:
        price = _decimal(data.get("price"))
        quantity = _decimal(data.get("qty"))
    except (ValueError, InvalidAmountError) as error:
        raise UnusableMessageError(f"fill amounts cannot be read: {error!r}") from error
    execution_id = data.get("execution_id")
    if not execution_id or price is None or quantity is None:
        raise UnusableMessageError("a fill without execution_id, price or qty")
    overfilled = 0 < order.quantity < order.filled_quantity
    if price <= 0 or quantity <= 0 or quantity > order.filled_quantity or overfilled:
        raise UnusableMessageError(
            f"impossible fill: {quantity} at {price}, "
            f"order filled {order.filled_quantity} of {order.quantity}"
        )
    return BrokerFill(
        execution_id=str(execution_id),
        broker_order_id=order.broker_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=quantity,
        price=price,
        filled_at=at,
        cumulative_quantity=order.filled_quantity,
    )
