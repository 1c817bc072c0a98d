"""Ports: what the domain needs from the outside world, as Protocols.

Adapters implement these; nothing above the adapters knows which one is plugged in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from trader.core.events import Event
from trader.core.market import Timeframe
from trader.core.validation import BarLike


class Clock(Protocol):
    """The time source. Wall clock in production, an accelerated simulated clock in replay."""

    def now(self) -> datetime:
        """Aware-UTC now."""
        ...

    async def sleep_until(self, moment: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to a consumer; it stays pending until acknowledged."""

    topic: str
    message_id: str
    event: Event
    delivery_count: int


@runtime_checkable
class MessageBus(Protocol):
    """Topic streams with consumer groups.

    Within a group each message goes to one consumer; a message that is read and not
    acknowledged stays pending and is delivered again: to the same consumer when it comes back
    (`read` returns its own pending messages first), or to another one that `claim_stale`s it.
    """

    async def publish(self, topic: str, event: Event) -> str: ...

    async def publish_many(self, topic: str, events: Sequence[Event]) -> list[str]:
        """Publish in order, as `publish` one after the other would, in one round trip where the
        back end allows; returns the message ids in the same order."""
        ...

    async def ensure_group(self, topic: str, group: str) -> None:
        """Create the group if needed; a new group starts with messages published from now on."""
        ...

    async def read(
        self, topic: str, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000
    ) -> Sequence[Delivery]: ...

    async def ack(self, topic: str, group: str, message_ids: Sequence[str]) -> None: ...

    async def claim_stale(
        self, topic: str, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> Sequence[Delivery]:
        """Take over messages another consumer read but did not acknowledge for `min_idle_ms`."""
        ...

    async def pending_count(self, topic: str, group: str) -> int: ...

    async def ping(self) -> None:
        """Raise if the bus cannot be reached."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FetchedBars:
    """What one provider call returned: unchecked bars (`BarCandidate`s, or `Bar`s from recorded data),
    which provider and which feed they came from."""

    provider: str
    candidates: Sequence[BarLike]
    feed: str | None = None
    # True when the bars carry the provider's current adjustment factors (newest bar = 1), so a
    # corporate action since the last collection can be carried back onto older stored bars.
    factors_current: bool = False


@runtime_checkable
class MarketDataProvider(Protocol):
    """A source of historical bars (Twelve Data, Alpaca, replay of recorded data, a file).

    `fetch_bars` returns candidates as received, unvalidated; the collector validates them before
    anything is stored. Failures raise the adapter's error classes, whose type says what to do
    (back off, fail over, never retry).
    """

    @property
    def name(self) -> str: ...

    async def fetch_bars(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> FetchedBars:
        """Bars of one symbol starting in [start, end), in any order, as the provider sent them."""
        ...


@dataclass(frozen=True, slots=True)
class Notification:
    """Something an operator should hear about. `kind` keys the cooldown (e.g. "order_rejected")."""

    kind: str
    title: str
    message: str
    severity: str  # "info" | "warning" | "critical"
    occurred_at: datetime
    details: tuple[tuple[str, str], ...] = ()


@runtime_checkable
class Notifier(Protocol):
    """One channel (webhook, Slack, Gotify, e-mail). `send` raises the adapter's delivery error."""

    @property
    def channel(self) -> str: ...

    async def send(self, notification: Notification) -> None: ...
