"""The broker port: what the trade executor needs from Alpaca or the simulated broker.

Values crossing the port are frozen records with Decimal amounts and aware-UTC times. Failures
are error classes that say what the caller must do next:

- `OrderOutcomeUnknownError`: the request may or may not have reached the broker (timeout, 5xx,
  429 on a submission). Look the order up by its `client_order_id` before anything is re-sent.
- `OrderRejectedError`: the broker refused this order (bad request, no buying power, unknown
  asset). Never retry it; record the refusal with the broker's message.
- `DuplicateClientOrderIdError`: the broker already holds an order with this id, so an earlier
  attempt got through. Look it up; never send it again.
- `BrokerUnavailableError`: a read could not be answered. Retry later; nothing changed.
- `BrokerAuthenticationError`: the credentials were refused. Never retry; a person must fix them.
- `InvalidAccountError`: the account answer lacks a field or holds no number. Trade nothing on it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from trader.core.money import to_decimal
from trader.core.orders import OrderSide, OrderStatus, OrderType, TimeInForce


class OrderClass(enum.StrEnum):
    SIMPLE = "simple"
    BRACKET = "bracket"  # entry plus a take-profit and a stop-loss leg, the legs one-cancels-other
    OCO = "oco"  # two exits (take-profit limit, stop-loss stop); the first to fill cancels the other
    OTO = "oto"  # entry plus one exit leg (a take-profit or a stop-loss), working once the entry fills

    @property
    def has_exit_legs(self) -> bool:
        """An entry whose exit legs wait for it (bracket, OTO)."""
        return self in (OrderClass.BRACKET, OrderClass.OTO)


def _require_aware_utc(moment: datetime | None, what: str) -> None:
    if moment is not None and (moment.tzinfo is None or moment.utcoffset() != timedelta(0)):
        raise ValueError(f"{what} must be aware UTC, got {moment!r}")


# The optional amounts of an order request: each is a Decimal when given, and must be positive.
_PRICE_FIELDS = (
    "limit_price",
    "stop_price",
    "trail_percent",
    "trail_price",
    "take_profit_price",
    "stop_loss_price",
)


def _optional_decimal(value: object) -> Decimal | None:
    return None if value is None else to_decimal(value)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as the executor asks the broker for it. Construct freely; `problems()` validates."""

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None
    trail_price: Decimal | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    take_profit_price: Decimal | None = None
    stop_loss_price: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "quantity", to_decimal(self.quantity))
        for name in _PRICE_FIELDS:
            object.__setattr__(self, name, _optional_decimal(getattr(self, name)))

    def problems(self) -> tuple[str, ...]:
        """Why this request must not reach a broker (empty when it may)."""
        found: list[str] = []
        if not self.client_order_id or len(self.client_order_id) > 64:
            found.append("client_order_id must be 1 to 64 characters")
        if not self.symbol or not self.symbol.replace(".", "").replace("/", "").isalnum():
            found.append(f"symbol {self.symbol!r} is not a ticker")
        if self.quantity <= 0:
            found.append(f"quantity must be positive, got {self.quantity}")
        for name in _PRICE_FIELDS:
            value = getattr(self, name)
            if value is not None and value <= 0:
                found.append(f"{name} must be positive, got {value}")
        kind = self.order_type
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.limit_price is None:
            found.append(f"a {kind.value} order needs a limit price")
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and self.stop_price is None:
            found.append(f"a {kind.value} order needs a stop price")
        if kind is OrderType.TRAILING_STOP and (self.trail_percent is None) == (self.trail_price is None):
            found.append("a trailing_stop order needs exactly one of trail_percent or trail_price")
        if kind is OrderType.MARKET and (self.limit_price is not None or self.stop_price is not None):
            found.append("a market order takes no limit or stop price")
        if self.order_class is OrderClass.OTO:
            if (self.take_profit_price is None) == (self.stop_loss_price is None):
                found.append("an oto order needs exactly one of take_profit_price and stop_loss_price")
        elif self.order_class is not OrderClass.SIMPLE:
            if self.take_profit_price is None or self.stop_loss_price is None:
                found.append(f"a {self.order_class.value} order needs take_profit_price and stop_loss_price")
            else:
                # A bracket's side is its entry, an OCO's side is its exit: either way, protecting a
                # long means taking profit above the stop.
                protects_long = (self.order_class is OrderClass.BRACKET) == (self.side is OrderSide.BUY)
                if protects_long and self.take_profit_price <= self.stop_loss_price:
                    found.append("protecting a long, take_profit_price must be above stop_loss_price")
                if not protects_long and self.take_profit_price >= self.stop_loss_price:
                    found.append("protecting a short, take_profit_price must be below stop_loss_price")
        return tuple(found)


def bracket_fields(stop_loss: Decimal | None, take_profit: Decimal | None) -> dict[str, Any]:
    """The order fields of an entry with protective levels: both as a bracket, one as an OTO (the
    entry and that one leg), none as a simple order. The legs must outlive the entry's day (a
    daily strategy's stop protects the position overnight), so a protected entry is GTC."""
    if stop_loss is None and take_profit is None:
        return {}
    return {
        "order_class": OrderClass.BRACKET
        if stop_loss is not None and take_profit is not None
        else OrderClass.OTO,
        "time_in_force": TimeInForce.GTC,
        "stop_loss_price": stop_loss,
        "take_profit_price": take_profit,
    }


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the broker holds it; `status` is ours (mapped), `broker_status` the broker's word."""

    broker_order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    order_type: OrderType
    time_in_force: TimeInForce
    status: OrderStatus
    broker_status: str
    filled_quantity: Decimal = Decimal(0)
    average_fill_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    parent_broker_order_id: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    # A bracket's or OCO's exit legs, when the broker's answer nests them (each names this order
    # as its parent); empty for a simple order or an answer that lists legs on their own.
    legs: tuple[BrokerOrder, ...] = ()

    def __post_init__(self) -> None:
        for name in ("submitted_at", "updated_at", "filled_at", "canceled_at"):
            _require_aware_utc(getattr(self, name), f"BrokerOrder.{name}")


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """One execution. `execution_id` is the broker's id for it, unique across all fills.

    `commission` is everything charged on the execution beyond its price: the broker's commission
    plus the regulatory fees of a sale; `regulatory_fees` says how much of it is those fees (SEC
    Section 31 fee, FINRA TAF). Cash moves by price x quantity and `commission`, nothing else.
    """

    execution_id: str
    broker_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    filled_at: datetime
    commission: Decimal = Decimal(0)
    regulatory_fees: Decimal = Decimal(0)
    # The order's filled quantity after this execution, when the broker says (Alpaca's `cum_qty`
    # in its fill listing, the order's `filled_qty` in its stream): the same fill seen on two
    # channels with two execution ids has one (order, cumulative quantity).
    cumulative_quantity: Decimal | None = None

    def __post_init__(self) -> None:
        _require_aware_utc(self.filled_at, "BrokerFill.filled_at")
        if self.quantity <= 0 or self.price <= 0:
            raise ValueError(f"fill {self.execution_id}: quantity and price must be positive")
        if self.cumulative_quantity is not None and self.cumulative_quantity < self.quantity:
            raise ValueError(f"fill {self.execution_id}: cumulative quantity below the fill's own")


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: str
    quantity: Decimal  # signed: negative is short
    average_entry_price: Decimal
    market_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """The account as the broker states it (Alpaca's fields; the simulated broker computes them).

    `short_market_value` is signed as the broker gives it (negative for a short book), so equity is
    cash + long + short. `last_equity` is the equity at the previous session's close, from which the
    day's loss is measured. `daytrade_count` is the day trades of the last five business days."""

    status: str
    currency: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    trading_blocked: bool = False
    long_market_value: Decimal = Decimal(0)
    short_market_value: Decimal = Decimal(0)
    last_equity: Decimal | None = None
    pattern_day_trader: bool = False
    daytrade_count: int = 0
    shorting_enabled: bool = False
    multiplier: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class MarketClock:
    at: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True, slots=True)
class BrokerAsset:
    symbol: str
    tradable: bool
    shortable: bool = False
    fractionable: bool = False


@dataclass(frozen=True, slots=True)
class CancelResult:
    broker_order_id: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CloseResult:
    """One symbol's outcome in close-all: the closing order, or the broker's status and message."""

    symbol: str
    status_code: int
    order: BrokerOrder | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.order is not None and 200 <= self.status_code < 300


class BrokerError(Exception):
    """Base of every broker failure. `status_code` is the broker's HTTP status when there was one."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class OrderOutcomeUnknownError(BrokerError):
    """The order may or may not exist now: look it up by client_order_id before re-sending."""

    def __init__(self, message: str, *, status_code: int | None = None, retry_after_seconds: float = 0.0):
        super().__init__(message, status_code=status_code)
        self.retry_after_seconds = retry_after_seconds


class OrderRejectedError(BrokerError):
    """The broker refused this order; never send it again."""


class DuplicateClientOrderIdError(OrderRejectedError):
    """The broker already has an order with this client_order_id: an earlier attempt got through."""


class OrderNotFoundError(BrokerError):
    """No such order at the broker."""


class OrderNotCancelableError(BrokerError):
    """The order is already final (filled, canceled...) at the broker."""


class BrokerUnavailableError(BrokerError):
    """The broker could not answer a read; retry later."""


class InvalidAccountError(BrokerError):
    """The broker's account answer lacks a field or is not a number: nothing may be sized on it."""


class BrokerAuthenticationError(BrokerError):
    """The broker refused the credentials; never retry until a person fixes them."""


@runtime_checkable
class Broker(Protocol):
    """A brokerage account. Every method may raise the `BrokerError` subclasses above."""

    @property
    def name(self) -> str: ...

    async def submit_order(self, request: OrderRequest) -> BrokerOrder: ...

    async def get_order(self, broker_order_id: str) -> BrokerOrder:
        """Raises OrderNotFoundError when the broker has no such order."""
        ...

    async def find_order(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client_order_id, None when the broker never received it."""
        ...

    async def list_orders(
        self, *, open_only: bool = False, since: datetime | None = None
    ) -> Sequence[BrokerOrder]: ...

    async def cancel_order(self, broker_order_id: str) -> None: ...

    async def cancel_all_orders(self) -> Sequence[CancelResult]: ...

    async def list_fills(self, *, since: datetime | None = None) -> Sequence[BrokerFill]: ...

    async def list_positions(self) -> Sequence[BrokerPosition]: ...

    async def close_all_positions(self) -> Sequence[CloseResult]: ...

    async def get_account(self) -> BrokerAccount: ...

    async def get_clock(self) -> MarketClock: ...

    async def get_asset(self, symbol: str) -> BrokerAsset | None:
        """The asset, None when the broker does not know the symbol."""
        ...
