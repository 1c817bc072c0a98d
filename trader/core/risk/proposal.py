"""The order a strategy proposes, as the risk manager sees it before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trader.core.market import is_aware_utc, normalize_symbol
from trader.core.money import to_decimal
from trader.core.orders import OrderSide, OrderType

_PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})


class InvalidProposalError(ValueError):
    """A proposed order that is malformed (a bug upstream), as opposed to one the rules deny."""


def _require_aware_utc(moment: datetime, what: str) -> None:
    if not is_aware_utc(moment):
        raise InvalidProposalError(f"{what} must be aware UTC, got {moment!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedOrder:
    symbol: str
    side: OrderSide
    quantity: Decimal
    order_type: OrderType
    # The last price seen for the symbol when the order was proposed, and when it was seen.
    reference_price: Decimal
    priced_at: datetime
    limit_price: Decimal | None = None
    strategy_name: str = ""
    signal_at: datetime | None = None
    confidence: Decimal | None = None
    # The entry's protective levels: with both, the executor sends the entry as a bracket, with one
    # as an OTO (entry and that leg). A level on the wrong side of the price is denied, not raised.
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", normalize_symbol(self.symbol))
        object.__setattr__(self, "side", OrderSide(self.side))
        object.__setattr__(self, "order_type", OrderType(self.order_type))
        for name in (
            "quantity",
            "reference_price",
            "limit_price",
            "confidence",
            "stop_loss_price",
            "take_profit_price",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_decimal(value))
        if self.quantity <= 0:
            raise InvalidProposalError(f"{self.symbol}: quantity must be positive, got {self.quantity}")
        if self.reference_price <= 0:
            raise InvalidProposalError(
                f"{self.symbol}: reference price must be positive, got {self.reference_price}"
            )
        if self.limit_price is not None and self.limit_price <= 0:
            raise InvalidProposalError(f"{self.symbol}: limit price must be positive, got {self.limit_price}")
        for name in ("stop_loss_price", "take_profit_price"):
            level = getattr(self, name)
            if level is not None and level <= 0:
                raise InvalidProposalError(f"{self.symbol}: {name} must be positive, got {level}")
        if self.order_type in _PRICED_TYPES and self.limit_price is None:
            raise InvalidProposalError(f"{self.symbol}: a {self.order_type.value} order needs a limit price")
        if self.confidence is not None and not Decimal(0) <= self.confidence <= Decimal(1):
            raise InvalidProposalError(f"{self.symbol}: confidence must be in [0, 1], got {self.confidence}")
        _require_aware_utc(self.priced_at, "priced_at")
        if self.signal_at is not None:
            _require_aware_utc(self.signal_at, "signal_at")

    @property
    def risk_price(self) -> Decimal:
        """The least favourable price the order can plausibly fill at, for sizing up its risk.

        A buy limit pays at most its limit; a sell limit below the market fills near the market.
        """
        if self.limit_price is None:
            return self.reference_price
        if self.side is OrderSide.BUY:
            return self.limit_price
        return max(self.limit_price, self.reference_price)

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.risk_price
