"""Day trades read from one trading day's fills, for the pattern-day-trader guard.

A day trade is an order that closes (part of) a position opened or grown the same day. From the
day's fills in time order and each symbol's quantity now, this finds which positions were opened
today and how many closing orders made day trades (each order counted once, however many fills).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trader.core.orders import OrderSide


@dataclass(frozen=True, slots=True)
class DayFill:
    symbol: str
    side: OrderSide
    quantity: Decimal
    filled_at: datetime
    order_key: object


@dataclass(frozen=True, slots=True)
class DayTrading:
    # (symbol, "long" | "short") of each position opened or grown today.
    opened: frozenset[tuple[str, str]]
    # The orders that made day trades, with the time of their last closing fill.
    day_trades: Mapping[object, datetime]

    def made_after(self, moment: datetime | None) -> int:
        """Day trades whose closing fill came after `moment` (all of them for None)."""
        return sum(1 for at in self.day_trades.values() if moment is None or at > moment)


def day_trading(fills: Sequence[DayFill], held_now: Mapping[str, Decimal]) -> DayTrading:
    """`fills`: the trading day's fills, oldest first; `held_now`: signed quantity per symbol after them."""
    held = dict(held_now)
    for fill in fills:  # back to the day's start
        held[fill.symbol] = held.get(fill.symbol, Decimal(0)) - _signed(fill)
    opened: set[tuple[str, str]] = set()
    trades: dict[object, datetime] = {}
    for fill in fills:
        before = held.get(fill.symbol, Decimal(0))
        after = before + _signed(fill)
        closes = before != 0 and (abs(after) < abs(before) or after * before < 0)
        if closes and (fill.symbol, _side_of(before)) in opened:
            trades[fill.order_key] = fill.filled_at
        if after != 0 and (before * after < 0 or abs(after) > abs(before)):
            opened.add((fill.symbol, _side_of(after)))
        held[fill.symbol] = after
    return DayTrading(frozenset(opened), trades)


def _signed(fill: DayFill) -> Decimal:
    return fill.quantity if fill.side is OrderSide.BUY else -fill.quantity


def _side_of(quantity: Decimal) -> str:
    return "long" if quantity > 0 else "short"
