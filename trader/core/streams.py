"""Streamed market data: the port a bar stream implements, and what it reports about itself.

A `BarStream` (Alpaca's market-data websocket is the one adapter) keeps one connection open,
hands every bar it receives to a `BarStreamSink` unvalidated (the collector validates, stores and
announces), tells the sink after every (re)connection so it can backfill what was missed, and
reports each message it cannot use with a reason. Its `status()` says what state it is in and
why, so a failing stream is named in /health instead of looking quiet.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from trader.core.validation import BarCandidate


class StreamState(enum.StrEnum):
    STARTING = "starting"  # not connected yet
    CONNECTING = "connecting"  # connecting, authenticating, subscribing
    STREAMING = "streaming"  # subscribed: bars arrive as they close
    RECONNECTING = "reconnecting"  # lost the connection; waiting out a short backoff
    REFUSED = "refused"  # the provider said no (keys, plan, connection limit): long backoff
    STOPPED = "stopped"


class BarKind(enum.StrEnum):
    BAR = "bar"  # a minute bar, sent once its minute closed
    UPDATED = "updated"  # a correction of a minute bar already sent (late trades)
    DAILY = "daily"  # the day's bar so far (it changes until the session closes)


class StreamRejection(enum.StrEnum):
    """Why a stream message was not used (validation reasons of the bars themselves come later)."""

    MALFORMED_MESSAGE = "MALFORMED_MESSAGE"  # not JSON / MessagePack, or not a list of objects
    UNKNOWN_MESSAGE_TYPE = "UNKNOWN_MESSAGE_TYPE"
    MISSING_FIELD = "MISSING_FIELD"  # a bar without a symbol, time or price, or an unreadable one


@dataclass(frozen=True, slots=True)
class StreamedBar:
    kind: BarKind
    candidate: BarCandidate


@dataclass(slots=True)
class StreamStatus:
    """What a stream reports: its state and the reason for it, and what it has received."""

    name: str
    feed: str
    state: StreamState = StreamState.STARTING
    reason: str = ""
    state_since: datetime | None = None
    connected_at: datetime | None = None
    last_message_at: datetime | None = None
    next_attempt_at: datetime | None = None
    connections: int = 0
    messages: int = 0
    bars: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    subscribed: int = 0

    @property
    def healthy(self) -> bool:
        return self.state is StreamState.STREAMING

    def as_dict(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "name": self.name,
            "feed": self.feed,
            "state": self.state.value,
            "reason": self.reason,
            "state_since": moment(self.state_since),
            "connected_at": moment(self.connected_at),
            "last_message_at": moment(self.last_message_at),
            "next_attempt_at": moment(self.next_attempt_at),
            "connections": self.connections,
            "messages": self.messages,
            "bars_received": dict(self.bars),
            "rejected_by_reason": dict(self.rejected),
            "symbols_subscribed": self.subscribed,
        }


class BarStreamSink(Protocol):
    """Where a stream delivers. Called on the stream's event loop, one call at a time."""

    async def stream_connected(self) -> None:
        """Subscribed after a (re)connection: bars closed while disconnected must be backfilled."""
        ...

    async def stream_bars(self, bars: Sequence[StreamedBar]) -> None: ...

    def stream_rejected(self, reason: StreamRejection, message: str) -> None: ...


@runtime_checkable
class BarStream(Protocol):
    @property
    def name(self) -> str: ...

    def status(self) -> StreamStatus: ...

    async def subscribe(self, symbols: Sequence[str]) -> None:
        """Follow exactly these symbols from now on (sent at once when connected, else on connect)."""
        ...

    async def run(self, sink: BarStreamSink) -> None:
        """Connect, subscribe and deliver until cancelled; reconnect with backoff on failures."""
        ...


def reconnect_delay(attempt: int, minimum: float, maximum: float, jitter: float) -> float:
    """Seconds to wait before reconnect attempt `attempt` (1, 2, ...): exponential from `minimum`,
    capped at `maximum`, spread by `jitter` in [0, 1) drawn by the caller ("equal jitter": half the
    step fixed, half random), so many processes that lost a server together do not return together."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    step = min(maximum, minimum * 2.0 ** min(attempt - 1, 30))
    return step / 2 + step / 2 * jitter
