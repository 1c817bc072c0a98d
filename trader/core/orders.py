"""Order vocabulary and the one table that says how an order's status may change.

Every status change goes through `transition`; an illegal change raises, because it means
our books and the broker's disagree and somebody must look.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class OrderSide(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(enum.StrEnum):
    DAY = "day"
    GTC = "gtc"
    OPG = "opg"
    CLS = "cls"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(enum.StrEnum):
    """Our statuses. The values are what the guide's SQL reads from `trades.status`."""

    PENDING = "pending"  # intent persisted, not yet sent to the broker
    SUBMITTED = "submitted"  # sent; the broker has not confirmed it yet
    ACCEPTED = "accepted"  # live at the broker, nothing filled
    HELD = "held"  # waiting on another order (bracket/OCO legs)
    PARTIALLY_FILLED = "partially_filled"
    DONE_FOR_DAY = "done_for_day"  # no more fills today; may resume next session
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    SUSPENDED = "suspended"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        return not self.is_terminal


TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.REPLACED,
    }
)

_S = OrderStatus
_LIVE = frozenset(
    {
        _S.ACCEPTED,
        _S.HELD,
        _S.PARTIALLY_FILLED,
        _S.DONE_FOR_DAY,
        _S.PENDING_CANCEL,
        _S.PENDING_REPLACE,
        _S.SUSPENDED,
    }
)
_ENDINGS = frozenset({_S.FILLED, _S.CANCELED, _S.EXPIRED, _S.REJECTED})

# Self-transitions are listed where a repeated report is normal (another partial fill, a
# re-sent acknowledgement); a terminal status has no way out.
TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    # A pending intent may be refused locally (REJECTED) or found already at the broker in any
    # live or final state when we reconcile after a crash.
    _S.PENDING: frozenset({_S.PENDING, _S.SUBMITTED, _S.CANCELED}) | _LIVE | _ENDINGS,
    _S.SUBMITTED: frozenset({_S.SUBMITTED}) | _LIVE | _ENDINGS,
    _S.ACCEPTED: _LIVE | _ENDINGS,
    _S.HELD: _LIVE | _ENDINGS,
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.DONE_FOR_DAY, _S.PENDING_CANCEL, _S.PENDING_REPLACE, _S.SUSPENDED}
    )
    | _ENDINGS,
    _S.DONE_FOR_DAY: frozenset({_S.DONE_FOR_DAY, _S.ACCEPTED, _S.PARTIALLY_FILLED, _S.PENDING_CANCEL})
    | _ENDINGS,
    _S.PENDING_CANCEL: frozenset({_S.PENDING_CANCEL, _S.ACCEPTED, _S.PARTIALLY_FILLED}) | _ENDINGS,
    _S.PENDING_REPLACE: frozenset({_S.PENDING_REPLACE, _S.ACCEPTED, _S.PARTIALLY_FILLED, _S.REPLACED})
    | _ENDINGS,
    _S.SUSPENDED: frozenset({_S.SUSPENDED, _S.ACCEPTED, _S.PARTIALLY_FILLED}) | _ENDINGS,
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.REPLACED: frozenset(),
}


class IllegalTransitionError(RuntimeError):
    """An order was asked to move to a status the transition table forbids."""

    def __init__(self, current: OrderStatus, requested: OrderStatus, order_ref: str = "") -> None:
        where = f" for order {order_ref}" if order_ref else ""
        super().__init__(f"illegal order transition {current.value} -> {requested.value}{where}")
        self.current = current
        self.requested = requested


def can_transition(current: OrderStatus, requested: OrderStatus) -> bool:
    return requested in TRANSITIONS[current]


def transition(current: OrderStatus, requested: OrderStatus, order_ref: str = "") -> OrderStatus:
    if not can_transition(current, requested):
        raise IllegalTransitionError(current, requested, order_ref)
    return requested


# Broker (Alpaca) statuses onto ours. `stopped` guarantees a fill at a price, so the order is
# still live; `calculated` is a finished day awaiting settlement maths; `pending_review` and
# `pending_new` are received but not yet live; `accepted_for_bidding` is live in an auction.
BROKER_STATUS_MAP: Mapping[str, OrderStatus] = {
    "new": _S.ACCEPTED,
    "accepted": _S.ACCEPTED,
    "pending_new": _S.SUBMITTED,
    "pending_review": _S.SUBMITTED,
    "accepted_for_bidding": _S.ACCEPTED,
    "stopped": _S.ACCEPTED,
    "held": _S.HELD,
    "partially_filled": _S.PARTIALLY_FILLED,
    "filled": _S.FILLED,
    "done_for_day": _S.DONE_FOR_DAY,
    "calculated": _S.DONE_FOR_DAY,
    "pending_cancel": _S.PENDING_CANCEL,
    "pending_replace": _S.PENDING_REPLACE,
    "suspended": _S.SUSPENDED,
    "canceled": _S.CANCELED,
    "expired": _S.EXPIRED,
    "rejected": _S.REJECTED,
    "replaced": _S.REPLACED,
}


class UnknownBrokerStatusError(ValueError):
    pass


def status_from_broker(broker_status: str) -> OrderStatus:
    try:
        return BROKER_STATUS_MAP[broker_status.strip().lower()]
    except KeyError as error:
        raise UnknownBrokerStatusError(
            f"broker reported an order status we do not know: {broker_status!r}; "
            "add it to BROKER_STATUS_MAP before trading on"
        ) from error
