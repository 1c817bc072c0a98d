"""One position per symbol: signed quantity, average cost, realized P&L.

Quantity is signed (long > 0, short < 0). Average cost is the volume-weighted entry price of
the shares still open and stays unchanged when a position is reduced, so realized P&L is
always measured against what was paid for the shares that were closed. Commissions are charged
to realized P&L when paid, not folded into the average cost, so the average cost stays a
price a person can compare with the market.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from trader.core.money import to_decimal
from trader.core.orders import OrderSide

ZERO = Decimal(0)


class InvalidFillError(ValueError):
    """A fill that cannot be applied: non-positive quantity or price, negative commission."""


def signed_quantity(side: OrderSide, quantity: Decimal) -> Decimal:
    """Positive for a buy, negative for a sell."""
    return quantity if side is OrderSide.BUY else -quantity


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("quantity", "average_cost", "realized_pnl"):
            object.__setattr__(self, name, to_decimal(getattr(self, name)))
        if self.average_cost < 0:
            raise ValueError(f"{self.symbol}: average cost cannot be negative, got {self.average_cost}")
        if self.quantity == 0 and self.average_cost != 0:
            raise ValueError(f"{self.symbol}: a flat position has no average cost, got {self.average_cost}")

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def is_long(self) -> bool:
        return self.quantity > 0

    @property
    def is_short(self) -> bool:
        return self.quantity < 0

    def market_value(self, mark: Decimal) -> Decimal:
        """Signed value at `mark`: negative for a short."""
        return self.quantity * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return (mark - self.average_cost) * self.quantity

    def apply_fill(
        self, side: OrderSide, quantity: Decimal, price: Decimal, commission: Decimal = ZERO
    ) -> Position:
        """The position after a fill: open, add, reduce, close or flip through zero."""
        quantity = to_decimal(quantity)
        price = to_decimal(price)
        commission = to_decimal(commission)
        if quantity <= 0:
            raise InvalidFillError(f"{self.symbol}: fill quantity must be positive, got {quantity}")
        if price <= 0:
            raise InvalidFillError(f"{self.symbol}: fill price must be positive, got {price}")
        if commission < 0:
            raise InvalidFillError(f"{self.symbol}: commission cannot be negative, got {commission}")

        delta = signed_quantity(side, quantity)
        realized = self.realized_pnl - commission
        if self.quantity == 0 or (self.quantity > 0) == (delta > 0):
            new_quantity = self.quantity + delta
            # Weighted by absolute size so the same formula serves longs and shorts.
            average = (abs(self.quantity) * self.average_cost + quantity * price) / abs(new_quantity)
            return replace(self, quantity=new_quantity, average_cost=average, realized_pnl=realized)

        closed = min(quantity, abs(self.quantity))
        direction = Decimal(1) if self.quantity > 0 else Decimal(-1)
        realized += (price - self.average_cost) * closed * direction
        new_quantity = self.quantity + delta
        if new_quantity == 0:
            average = ZERO
        elif (new_quantity > 0) == (self.quantity > 0):
            average = self.average_cost
        else:
            # Flipped: the shares beyond the old position open a new one at this fill's price.
            average = price
        return replace(self, quantity=new_quantity, average_cost=average, realized_pnl=realized)
