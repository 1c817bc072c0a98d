"""The one fill model, shared by the backtester and the simulated broker.

A market order decided on bar t's close fills at bar t+1's open (`FillRule.NEXT_OPEN`, the
default, which keeps a strategy from trading on a price it could not have had) or at bar t's
close (`FillRule.CLOSE`). Slippage moves the price against the trader by a number of basis
points; commission is per share plus a rate on notional, with a minimum per order.

Two APIs over the same rules: Decimal scalars for single orders (`quote_fill`,
`affordable_quantity`), and float64 arrays for the vectorised backtest kernels, which round
back to Decimal at their edge.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import numpy as np
from numpy.typing import NDArray

from trader.core.market import Bar
from trader.core.money import to_cash, to_decimal, to_price
from trader.core.orders import OrderSide

_BASIS_POINT = Decimal("0.0001")
_ZERO = Decimal(0)


class FillRule(enum.StrEnum):
    NEXT_OPEN = "next_open"
    CLOSE = "close"

    @property
    def bar_offset(self) -> int:
        """How many bars after the signal bar the fill happens."""
        return 1 if self is FillRule.NEXT_OPEN else 0


@dataclass(frozen=True, slots=True)
class Slippage:
    """A fixed adverse move of `basis_points` (1 bp = 0.01%): buys pay more, sells get less."""

    basis_points: Decimal = _ZERO

    def __post_init__(self) -> None:
        object.__setattr__(self, "basis_points", to_decimal(self.basis_points))
        if self.basis_points < 0:
            raise ValueError(f"slippage must be >= 0 bps, got {self.basis_points}")

    def adjust(self, side: OrderSide, price: Decimal) -> Decimal:
        move = price * self.basis_points * _BASIS_POINT
        return to_price(price + move if side is OrderSide.BUY else price - move)

    @property
    def fraction(self) -> float:
        return float(self.basis_points * _BASIS_POINT)

    def adjust_array(self, side: OrderSide, prices: NDArray[np.float64]) -> NDArray[np.float64]:
        factor = 1.0 + self.fraction if side is OrderSide.BUY else 1.0 - self.fraction
        return np.asarray(prices, dtype=np.float64) * factor


@dataclass(frozen=True, slots=True)
class Commission:
    """max(minimum, per_share * quantity + rate * notional); `rate` is a fraction (0.001 = 0.1%)."""

    per_share: Decimal = _ZERO
    rate: Decimal = _ZERO
    minimum: Decimal = _ZERO

    def __post_init__(self) -> None:
        for name in ("per_share", "rate", "minimum"):
            value = to_decimal(getattr(self, name))
            if value < 0:
                raise ValueError(f"commission {name} must be >= 0, got {value}")
            object.__setattr__(self, name, value)

    @property
    def is_free(self) -> bool:
        return self.per_share == 0 and self.rate == 0 and self.minimum == 0

    def charge(self, quantity: Decimal, price: Decimal) -> Decimal:
        if quantity == 0:
            return _ZERO
        variable = self.per_share * abs(quantity) + self.rate * abs(quantity) * price
        return to_cash(max(self.minimum, variable))

    def charge_float(self, quantity: float, price: float) -> float:
        if quantity == 0:
            return 0.0
        variable = float(self.per_share) * quantity + float(self.rate) * quantity * price
        return max(float(self.minimum), variable)

    def charge_array(
        self, quantities: NDArray[np.float64], prices: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        variable = float(self.per_share) * quantities + float(self.rate) * quantities * prices
        charged = np.maximum(float(self.minimum), variable)
        return np.where(quantities == 0, 0.0, charged)


@dataclass(frozen=True, slots=True)
class FillQuote:
    """What an order would fill at: price after slippage, the commission, and the cash it moves."""

    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal

    @property
    def cash_change(self) -> Decimal:
        """Signed change of cash: negative for a buy (price and commission paid)."""
        notional = self.quantity * self.price
        signed = -notional if self.side is OrderSide.BUY else notional
        return to_cash(signed - self.commission)


@dataclass(frozen=True, slots=True)
class FillModel:
    rule: FillRule = FillRule.NEXT_OPEN
    slippage: Slippage = Slippage()
    commission: Commission = Commission()

    def reference_price(self, fill_bar: Bar) -> Decimal:
        """The market price of the fill bar under this rule (before slippage)."""
        return fill_bar.open if self.rule is FillRule.NEXT_OPEN else fill_bar.close

    def quote_fill(self, side: OrderSide, quantity: Decimal, fill_bar: Bar) -> FillQuote:
        """Fill a market order on `fill_bar`: the bar after the signal (NEXT_OPEN) or its own bar (CLOSE)."""
        quantity = to_decimal(quantity)
        if quantity <= 0:
            raise ValueError(f"order quantity must be positive, got {quantity}")
        price = self.slippage.adjust(side, self.reference_price(fill_bar))
        return FillQuote(side, quantity, price, self.commission.charge(quantity, price))

    def affordable_quantity(self, cash: Decimal, reference_price: Decimal) -> Decimal:
        """Most whole units a buy at `reference_price` can pay for, slippage and commission included."""
        cash, reference_price = to_decimal(cash), to_decimal(reference_price)
        if reference_price <= 0:
            raise ValueError(f"price must be positive, got {reference_price}")
        if cash <= 0:
            return _ZERO
        price = self.slippage.adjust(OrderSide.BUY, reference_price)
        per_unit = price + self.commission.per_share + self.commission.rate * price
        quantity = (cash / per_unit).to_integral_value(rounding=ROUND_FLOOR)
        # The minimum commission (and rounding) can push the total over cash: step back.
        while quantity > 0 and quantity * price + self.commission.charge(quantity, price) > cash:
            quantity -= 1
        return quantity

    def affordable_quantity_float(self, cash: float, buy_price: float) -> float:
        """Float twin of `affordable_quantity` for kernels; `buy_price` already includes slippage.

        `//` on Python floats is the floor of the exact quotient, so with prices on a binary tick
        this is exactly floor(cash / price), the sizing the benchmark peers use.
        """
        if cash <= 0.0 or buy_price <= 0.0:
            return 0.0
        commission = self.commission
        if commission.is_free:
            return math.floor(cash // buy_price)
        per_unit = buy_price + float(commission.per_share) + float(commission.rate) * buy_price
        quantity = float(math.floor(cash // per_unit))
        while quantity > 0 and quantity * buy_price + commission.charge_float(quantity, buy_price) > cash:
            quantity -= 1.0
        return quantity
