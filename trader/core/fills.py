"""The one fill model, shared by the backtester and the simulated broker.

A market order decided on bar t's close fills at bar t+1's open (`FillRule.NEXT_OPEN`, the
default, which keeps a strategy from trading on a price it could not have had) or at bar t's
close (`FillRule.CLOSE`). Slippage moves the price against the trader by a number of basis
points; commission is per share plus a rate on notional, with a minimum per order; every sale
also pays the US regulatory fees (SEC Section 31 fee and FINRA TAF, `RegulatoryFees`).

The defaults are honest rather than flattering: 5 bps of slippage, no commission (Alpaca charges
none) and the regulatory fees at the rates below. A comparison that needs frictionless fills (the
benchmark against peer engines) asks for them by name: `FillModel.frictionless()`.

Two APIs over the same rules: Decimal scalars for single orders (`quote_fill`,
`affordable_quantity`), and float64 arrays for the vectorised backtest kernels, which round
back to Decimal at their edge.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np
from numpy.typing import NDArray

from trader.core.market import Bar
from trader.core.money import to_cash, to_decimal, to_price
from trader.core.orders import OrderSide

_BASIS_POINT = Decimal("0.0001")
_ZERO = Decimal(0)
_CENT = Decimal("0.01")

# Market orders rarely fill at the bar's printed open: 5 bps (0.05%) against the trader is a
# modest allowance for the spread and impact of a liquid US stock.
DEFAULT_SLIPPAGE_BPS = Decimal(5)
# Regulatory fees on sales. They change by fiscal year, so they are settings (SEC_FEE_RATE,
# FINRA_TAF_PER_SHARE, FINRA_TAF_MAX_PER_TRADE); these defaults are Alpaca's published rates
# (https://docs.alpaca.markets/docs/regulatory-fees): SEC Section 31 fee $27.80 per million dollars
# of sale proceeds (SEC Fee Rate Advisory, press release 2024-47, effective 2024-05-22), FINRA
# Trading Activity Fee $0.000166 per share sold, at most $8.30 per trade (FINRA By-Laws, Schedule A,
# Section 1, from 2024-01-01). The SEC set its rate to $0.00 from 2025-05-14 for the rest of fiscal
# 2025 (FINRA Information Notice 2025-04-24) and sets a new one each fiscal year (fiscal 2026:
# Release 34-104909): the last non-zero rate is kept as the default because overstating a fee by a
# few cents costs a backtest less than flattering it does.
DEFAULT_SEC_FEE_RATE = Decimal("0.0000278")
DEFAULT_TAF_PER_SHARE = Decimal("0.000166")
DEFAULT_TAF_MAX_PER_TRADE = Decimal("8.30")


def _non_negative_decimals(record: object, what: str, names: tuple[str, ...]) -> None:
    """Turn a frozen record's cost fields into Decimals, refusing negative ones."""
    for name in names:
        value = to_decimal(getattr(record, name))
        if value < 0:
            raise ValueError(f"{what} {name} must be >= 0, got {value}")
        object.__setattr__(record, name, value)


def _cents_up(amount: Decimal) -> Decimal:
    """Brokers round each regulatory fee up to the next cent."""
    return amount.quantize(_CENT, rounding=ROUND_CEILING)


def _cents_up_float(amount: float) -> float:
    # Rounded to a millionth of a cent first, so float noise (0.28000000000000003) does not cost a
    # cent that the Decimal path does not charge.
    return math.ceil(round(amount * 100.0, 6)) / 100.0


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
        _non_negative_decimals(self, "commission", ("per_share", "rate", "minimum"))

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
class RegulatoryFees:
    """What a sale pays the regulators: the SEC fee (`sec_fee_rate` x proceeds) plus FINRA's TAF
    (`taf_per_share` x shares sold, at most `taf_max_per_trade`), each rounded up to the cent.
    Buys pay neither. Defaults: the rates cited at `DEFAULT_SEC_FEE_RATE`."""

    sec_fee_rate: Decimal = DEFAULT_SEC_FEE_RATE
    taf_per_share: Decimal = DEFAULT_TAF_PER_SHARE
    taf_max_per_trade: Decimal = DEFAULT_TAF_MAX_PER_TRADE

    def __post_init__(self) -> None:
        _non_negative_decimals(self, "regulatory fee", ("sec_fee_rate", "taf_per_share", "taf_max_per_trade"))

    @classmethod
    def none(cls) -> RegulatoryFees:
        return cls(_ZERO, _ZERO, _ZERO)

    @property
    def is_free(self) -> bool:
        return self.sec_fee_rate == 0 and (self.taf_per_share == 0 or self.taf_max_per_trade == 0)

    def charge(self, side: OrderSide, quantity: Decimal, price: Decimal) -> Decimal:
        if side is OrderSide.BUY or quantity == 0:
            return _ZERO
        shares = abs(quantity)
        sec_fee = _cents_up(self.sec_fee_rate * shares * price)
        taf = min(self.taf_max_per_trade, _cents_up(self.taf_per_share * shares))
        return sec_fee + taf

    def charge_sale_float(self, quantity: float, price: float) -> float:
        """Float twin of `charge` for a sale, for the vectorised kernels."""
        if quantity == 0:
            return 0.0
        sec_fee = _cents_up_float(float(self.sec_fee_rate) * quantity * price)
        taf = min(float(self.taf_max_per_trade), _cents_up_float(float(self.taf_per_share) * quantity))
        return sec_fee + taf

    def charge_sale_array(
        self, quantities: NDArray[np.float64], prices: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """`charge_sale_float` over arrays (model labels price many sales at once)."""
        sec_fee = np.ceil(np.round(float(self.sec_fee_rate) * quantities * prices * 100.0, 6)) / 100.0
        taf = np.minimum(
            float(self.taf_max_per_trade),
            np.ceil(np.round(float(self.taf_per_share) * quantities * 100.0, 6)) / 100.0,
        )
        charged: NDArray[np.float64] = np.where(quantities == 0, 0.0, sec_fee + taf)
        return charged


@dataclass(frozen=True, slots=True)
class FillQuote:
    """What an order would fill at: price after slippage, the commission, the regulatory fees
    (sales only), and the cash it moves."""

    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal
    fees: Decimal = _ZERO

    @property
    def charges(self) -> Decimal:
        """Everything paid beyond the price: commission plus regulatory fees."""
        return self.commission + self.fees

    @property
    def cash_change(self) -> Decimal:
        """Signed change of cash: negative for a buy (price and charges paid)."""
        notional = self.quantity * self.price
        signed = -notional if self.side is OrderSide.BUY else notional
        return to_cash(signed - self.charges)


@dataclass(frozen=True, slots=True)
class FillModel:
    rule: FillRule = FillRule.NEXT_OPEN
    slippage: Slippage = Slippage(DEFAULT_SLIPPAGE_BPS)
    commission: Commission = Commission()
    fees: RegulatoryFees = RegulatoryFees()

    @classmethod
    def frictionless(cls, rule: FillRule = FillRule.NEXT_OPEN) -> FillModel:
        """No slippage, commission or fees: for comparisons with engines that charge nothing."""
        return cls(rule=rule, slippage=Slippage(_ZERO), fees=RegulatoryFees.none())

    @property
    def is_frictionless(self) -> bool:
        return self.slippage.basis_points == 0 and self.commission.is_free and self.fees.is_free

    def sale_charges_float(self, quantity: float, price: float) -> float:
        """Commission plus regulatory fees of a sale, in floats for the kernels."""
        return self.commission.charge_float(quantity, price) + self.fees.charge_sale_float(quantity, price)

    def reference_price(self, fill_bar: Bar) -> Decimal:
        """The market price of the fill bar under this rule (before slippage)."""
        return fill_bar.open if self.rule is FillRule.NEXT_OPEN else fill_bar.close

    def quote_fill(self, side: OrderSide, quantity: Decimal, fill_bar: Bar) -> FillQuote:
        """Fill a market order on `fill_bar`: the bar after the signal (NEXT_OPEN) or its own bar (CLOSE)."""
        quantity = to_decimal(quantity)
        if quantity <= 0:
            raise ValueError(f"order quantity must be positive, got {quantity}")
        price = self.slippage.adjust(side, self.reference_price(fill_bar))
        commission = self.commission.charge(quantity, price)
        return FillQuote(side, quantity, price, commission, self.fees.charge(side, quantity, price))

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
