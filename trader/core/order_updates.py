"""The order-update stream port: the broker telling us, as it happens, what became of our orders.

A stream adapter (Alpaca's `trade_updates` websocket) turns each message into an `OrderUpdate`
and hands them, in order, to an `OrderUpdateListener`; after every (re)connect it calls `on_connected` first,
so the listener can reconcile what happened while nobody was listening. Its `status` says whether
it is listening and, when not, why: an operator reads it in /health and /broker/status.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from trader.core.broker import BrokerFill, BrokerOrder

# The broker's event words (Alpaca's documented trade_updates events).
FILL_EVENTS = frozenset({"fill", "partial_fill"})
ORDER_EVENTS = FILL_EVENTS | frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "canceled",
        "expired",
        "done_for_day",
        "replaced",
        "rejected",
        "stopped",
        "pending_cancel",
        "pending_replace",
        "calculated",
        "suspended",
        "restated",
        "order_replace_rejected",
        "order_cancel_rejected",
    }
)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One order event: the broker's copy of the order after it, and the execution if it was one.

    `fill.cumulative_quantity` is the order's filled quantity after this execution: the identity
    the stream and the broker's fill listing share (their execution ids differ)."""

    event: str
    order: BrokerOrder
    at: datetime
    fill: BrokerFill | None = None
    position_quantity: Decimal | None = None


class StreamState(enum.StrEnum):
    STARTING = "starting"
    CONNECTING = "connecting"
    LISTENING = "listening"
    # Waiting before the next attempt after a drop or a failed connection.
    RECONNECTING = "reconnecting"
    # The broker refused us (credentials, or another process holds the account's one stream):
    # retried slowly, never in a tight loop; a person may have to act.
    REFUSED = "refused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class StreamStatus:
    name: str
    state: StreamState
    reason: str | None
    since: datetime
    connects: int = 0
    updates: int = 0
    rejected_messages: int = 0
    last_update_at: datetime | None = None

    @property
    def listening(self) -> bool:
        return self.state is StreamState.LISTENING


@runtime_checkable
class OrderUpdateListener(Protocol):
    async def on_connected(self) -> None:
        """Called after every (re)connect, before the first update read on it."""
        ...

    async def on_updates(self, updates: Sequence[OrderUpdate]) -> None:
        """Updates in the order the broker sent them: one, or all that arrived meanwhile."""
        ...


@runtime_checkable
class OrderUpdateStream(Protocol):
    @property
    def status(self) -> StreamStatus: ...

    async def run(self, listener: OrderUpdateListener) -> None:
        """Connect, listen and hand every update to `listener`, reconnecting with backoff,
        until cancelled."""
        ...
