"""Protective exits: where a stop-loss and a take-profit leave a position within one bar.

One rule for the backtester and the simulated broker (and so for `backtest --through-risk`),
because a bar does not say whether its high or its low came first:

1. the open comes first: an open at or beyond a level exits there, at the open (a gap);
2. a bar that touches both levels exits at the stop (the pessimistic reading);
3. otherwise the level touched exits at the level.

The price is the raw level or open: the stop becomes a market order (the caller applies the fill
model's slippage), the take-profit is a limit order (it never fills worse than its limit).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from trader.core.orders import OrderSide
from trader.core.risk.sizing import stop_loss_price, take_profit_price

# Parameters every strategy configuration may give beside its type's own: an entry's protective
# levels as fractions of the signal's price (the strategy engine puts them on the signal).
PROTECTIVE_PARAMETERS = ("stop_loss_pct", "take_profit_pct")


@dataclass(frozen=True, slots=True)
class ProtectiveFractions:
    """A stop-loss and a take-profit as fractions of an entry's price (None: no such level)."""

    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None

    def __post_init__(self) -> None:
        if self.stop_loss_pct is not None and not Decimal(0) < self.stop_loss_pct < 1:
            raise ValueError(f"stop_loss_pct must be in (0, 1), got {self.stop_loss_pct}")
        if self.take_profit_pct is not None and self.take_profit_pct <= 0:
            raise ValueError(f"take_profit_pct must be positive, got {self.take_profit_pct}")

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, object]) -> ProtectiveFractions:
        """The reserved parameters of a strategy configuration; ValueError names a bad one."""
        values: dict[str, Decimal | None] = {}
        for name in PROTECTIVE_PARAMETERS:
            raw = parameters.get(name)
            if raw is None:
                values[name] = None
                continue
            if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
                raise ValueError(f"{name} must be a number, got {raw!r}")
            try:
                values[name] = Decimal(str(raw))
            except InvalidOperation:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
        return cls(**values)

    def levels(self, side: OrderSide, price: Decimal) -> tuple[Decimal | None, Decimal | None]:
        """(stop-loss, take-profit) of an entry at `price`, on the cent grid toward the price."""
        stop = (
            None if self.stop_loss_pct is None else stop_loss_price(side, price, percent=self.stop_loss_pct)
        )
        target = (
            None
            if self.take_profit_pct is None
            else take_profit_price(side, price, percent=self.take_profit_pct)
        )
        return stop, target


class ProtectiveLeg(enum.StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


@dataclass(frozen=True, slots=True)
class ProtectiveExit:
    leg: ProtectiveLeg
    price: Decimal  # raw: before slippage (a stop) or exactly the limit or better (a take-profit)


def protective_exit(
    position_side: OrderSide,
    *,
    bar_open: Decimal,
    high: Decimal,
    low: Decimal,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
) -> ProtectiveExit | None:
    """The exit this bar makes of a position opened by `position_side` (BUY: long), or None.

    `stop_loss`/`take_profit` are the levels (None: no such leg)."""
    long = position_side is OrderSide.BUY

    def beyond_target(price: Decimal) -> bool:
        return take_profit is not None and (price >= take_profit if long else price <= take_profit)

    def beyond_stop(price: Decimal) -> bool:
        return stop_loss is not None and (price <= stop_loss if long else price >= stop_loss)

    if beyond_target(bar_open):
        return ProtectiveExit(ProtectiveLeg.TAKE_PROFIT, bar_open)
    if beyond_stop(low if long else high):
        assert stop_loss is not None
        return ProtectiveExit(
            ProtectiveLeg.STOP_LOSS, min(bar_open, stop_loss) if long else max(bar_open, stop_loss)
        )
    if beyond_target(high if long else low):
        assert take_profit is not None
        return ProtectiveExit(
            ProtectiveLeg.TAKE_PROFIT, max(bar_open, take_profit) if long else min(bar_open, take_profit)
        )
    return None


def wrong_side(
    position_side: OrderSide, price: Decimal, *, stop_loss: Decimal | None, take_profit: Decimal | None
) -> list[str]:
    """Why these levels cannot protect a position opened at `price` (empty when they can): a long's
    stop must be below the price and its target above; a short's the other way round."""
    long = position_side is OrderSide.BUY
    found: list[str] = []
    if stop_loss is not None and (stop_loss >= price if long else stop_loss <= price):
        found.append(
            f"stop-loss {stop_loss} is not {'below' if long else 'above'} the price {price} of a "
            f"{'long' if long else 'short'} entry"
        )
    if take_profit is not None and (take_profit <= price if long else take_profit >= price):
        found.append(
            f"take-profit {take_profit} is not {'above' if long else 'below'} the price {price} of a "
            f"{'long' if long else 'short'} entry"
        )
    return found
