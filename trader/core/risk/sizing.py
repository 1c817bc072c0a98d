"""Position sizing and protective levels, shared by the risk manager and the backtester.

Every quantity is a whole number of shares as a Decimal (or, for an asset the broker trades in
fractions, a multiple of `FRACTIONAL_STEP`), rounded down, never negative, and never more than the
buying power pays for at the given price.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from trader.core.money import to_decimal
from trader.core.orders import OrderSide

_ZERO = Decimal(0)
_ONE = Decimal(1)
CENT = Decimal("0.01")
# The finest fraction of a share sized (Alpaca takes nine decimals; a millionth is well below a cent
# of any listed price).
FRACTIONAL_STEP = Decimal("0.000001")


class MissingSizingInputError(ValueError):
    """The chosen sizing method needs an input the caller did not give (ATR, volatility, odds)."""


def whole_shares(amount: Decimal, step: Decimal = _ONE) -> Decimal:
    """Round a share count down to a multiple of `step` (a whole number by default), never below zero."""
    if amount <= 0:
        return _ZERO
    if step == _ONE:
        return amount.to_integral_value(rounding=ROUND_FLOOR)
    return (amount / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _require_price(price: Decimal) -> Decimal:
    price = to_decimal(price)
    if price <= 0:
        raise ValueError(f"sizing needs a positive price, got {price}")
    return price


def cap_to_buying_power(
    quantity: Decimal, price: Decimal, buying_power: Decimal, step: Decimal = _ONE
) -> Decimal:
    price = _require_price(price)
    affordable = whole_shares(to_decimal(buying_power) / price, step)
    return min(whole_shares(to_decimal(quantity), step), affordable)


def _shares_for_value(value: Decimal, price: Decimal, buying_power: Decimal, step: Decimal) -> Decimal:
    price = _require_price(price)
    return cap_to_buying_power(whole_shares(value / price, step), price, buying_power, step)


def fixed_fraction_quantity(
    equity: Decimal, fraction: Decimal, price: Decimal, buying_power: Decimal, step: Decimal = _ONE
) -> Decimal:
    """Shares worth `fraction` of equity."""
    return _shares_for_value(to_decimal(equity) * to_decimal(fraction), price, buying_power, step)


def stop_distance_quantity(
    equity: Decimal,
    risk_fraction: Decimal,
    price: Decimal,
    stop_distance: Decimal,
    buying_power: Decimal,
    step: Decimal = _ONE,
) -> Decimal:
    """Shares such that being stopped out `stop_distance` away loses `risk_fraction` of equity."""
    stop_distance = to_decimal(stop_distance)
    if stop_distance <= 0:
        raise ValueError(f"stop distance must be positive, got {stop_distance}")
    risk_budget = to_decimal(equity) * to_decimal(risk_fraction)
    price = _require_price(price)
    return cap_to_buying_power(whole_shares(risk_budget / stop_distance, step), price, buying_power, step)


def atr_quantity(
    equity: Decimal,
    risk_fraction: Decimal,
    price: Decimal,
    atr: Decimal,
    atr_multiple: Decimal,
    buying_power: Decimal,
    step: Decimal = _ONE,
) -> Decimal:
    """Stop-distance sizing with the stop `atr_multiple` ATRs away: calmer symbols get more shares."""
    return stop_distance_quantity(
        equity, risk_fraction, price, to_decimal(atr) * to_decimal(atr_multiple), buying_power, step
    )


def volatility_target_quantity(
    equity: Decimal,
    target_volatility: Decimal,
    annual_volatility: Decimal,
    price: Decimal,
    buying_power: Decimal,
    max_fraction: Decimal = _ONE,
    step: Decimal = _ONE,
) -> Decimal:
    """Shares whose value times the symbol's volatility contributes `target_volatility` of equity,
    never more than `max_fraction` of equity (a near-zero volatility would otherwise ask for all of it)."""
    annual_volatility = to_decimal(annual_volatility)
    if annual_volatility <= 0:
        raise ValueError(f"annual volatility must be positive, got {annual_volatility}")
    fraction = min(to_decimal(target_volatility) / annual_volatility, to_decimal(max_fraction))
    return fixed_fraction_quantity(equity, fraction, price, buying_power, step)


def kelly_fraction(win_probability: Decimal, payoff_ratio: Decimal) -> Decimal:
    """Full Kelly f* = p - (1 - p) / b, where b is average win over average loss. May be negative."""
    p = to_decimal(win_probability)
    b = to_decimal(payoff_ratio)
    if not _ZERO <= p <= _ONE:
        raise ValueError(f"win probability must be in [0, 1], got {p}")
    if b <= 0:
        raise ValueError(f"payoff ratio must be positive, got {b}")
    return p - (_ONE - p) / b


def capped_kelly_quantity(
    equity: Decimal,
    price: Decimal,
    win_probability: Decimal,
    payoff_ratio: Decimal,
    buying_power: Decimal,
    multiplier: Decimal = Decimal("0.5"),
    cap: Decimal = Decimal("0.25"),
) -> Decimal:
    """A fraction of Kelly, capped; no edge, no shares.

    Half Kelly by default: full Kelly on estimated odds overbets whenever the estimate is optimistic.
    """
    fraction = kelly_fraction(win_probability, payoff_ratio) * to_decimal(multiplier)
    fraction = min(max(fraction, _ZERO), to_decimal(cap))
    return fixed_fraction_quantity(equity, fraction, price, buying_power)


def confidence_scaled_quantity(
    base_quantity: Decimal, confidence: Decimal, min_confidence: Decimal = _ZERO, step: Decimal = _ONE
) -> Decimal:
    """Scale a size by signal confidence in [0, 1]; below `min_confidence` the signal is not traded."""
    confidence = to_decimal(confidence)
    if not _ZERO <= confidence <= _ONE:
        raise ValueError(f"confidence must be in [0, 1], got {confidence}")
    if confidence < to_decimal(min_confidence):
        return _ZERO
    return whole_shares(to_decimal(base_quantity) * confidence, step)


class SizingMethod(enum.StrEnum):
    FIXED_FRACTION = "fixed_fraction"
    ATR = "atr"
    VOLATILITY_TARGET = "volatility_target"
    KELLY = "kelly"


@dataclass(frozen=True, slots=True, kw_only=True)
class SizingPolicy:
    method: SizingMethod = SizingMethod.FIXED_FRACTION
    fraction: Decimal = Decimal("0.10")
    risk_fraction: Decimal = Decimal("0.02")
    atr_multiple: Decimal = Decimal("2")
    target_volatility: Decimal = Decimal("0.15")
    kelly_multiplier: Decimal = Decimal("0.5")
    kelly_cap: Decimal = Decimal("0.25")
    # Multiply the size by the signal's confidence (when it has one).
    scale_by_confidence: bool = False
    min_confidence: Decimal = _ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class SizingInputs:
    equity: Decimal
    price: Decimal
    buying_power: Decimal
    atr: Decimal | None = None
    annual_volatility: Decimal | None = None
    win_probability: Decimal | None = None
    payoff_ratio: Decimal | None = None
    confidence: Decimal | None = None
    # 1 for whole shares; FRACTIONAL_STEP where the broker takes fractions of the asset.
    share_step: Decimal = _ONE


def _need(value: Decimal | None, name: str, method: SizingMethod) -> Decimal:
    if value is None:
        raise MissingSizingInputError(f"{method.value} sizing needs {name}")
    return value


def size_position(policy: SizingPolicy, inputs: SizingInputs) -> Decimal:
    """Shares (in steps of `share_step`) by the policy's method, then scaled by confidence if the
    policy says so (Kelly sizes in whole shares)."""
    method = policy.method
    step = inputs.share_step
    if method is SizingMethod.FIXED_FRACTION:
        quantity = fixed_fraction_quantity(
            inputs.equity, policy.fraction, inputs.price, inputs.buying_power, step
        )
    elif method is SizingMethod.ATR:
        quantity = atr_quantity(
            inputs.equity,
            policy.risk_fraction,
            inputs.price,
            _need(inputs.atr, "an ATR", method),
            policy.atr_multiple,
            inputs.buying_power,
            step,
        )
    elif method is SizingMethod.VOLATILITY_TARGET:
        quantity = volatility_target_quantity(
            inputs.equity,
            policy.target_volatility,
            _need(inputs.annual_volatility, "an annual volatility", method),
            inputs.price,
            inputs.buying_power,
            step=step,
        )
    else:
        quantity = capped_kelly_quantity(
            inputs.equity,
            inputs.price,
            _need(inputs.win_probability, "a win probability", method),
            _need(inputs.payoff_ratio, "a payoff ratio", method),
            inputs.buying_power,
            policy.kelly_multiplier,
            policy.kelly_cap,
        )
    if policy.scale_by_confidence and inputs.confidence is not None:
        quantity = confidence_scaled_quantity(quantity, inputs.confidence, policy.min_confidence, step)
    return quantity


def _distance(
    entry_price: Decimal, percent: Decimal | None, atr: Decimal | None, atr_multiple: Decimal | None
) -> Decimal:
    if (percent is None) == (atr is None):
        raise ValueError("give either a percent or an ATR (with its multiple), not both or neither")
    if percent is not None:
        fraction = to_decimal(percent)
        if fraction <= 0:
            raise ValueError(f"percent must be a positive fraction, got {fraction}")
        return entry_price * fraction
    if atr_multiple is None:
        raise ValueError("an ATR-based level needs atr_multiple")
    distance = to_decimal(atr) * to_decimal(atr_multiple)
    if distance <= 0:
        raise ValueError(f"ATR times its multiple must be positive, got {distance}")
    return distance


def _level(raw: Decimal, tick: Decimal, round_up: bool) -> Decimal:
    tick = to_decimal(tick)
    steps = (raw / tick).to_integral_value(rounding=ROUND_CEILING if round_up else ROUND_FLOOR)
    level = steps * tick
    if level <= 0:
        raise ValueError(f"the level works out at {raw}, which is not a price; use a smaller distance")
    return level


def _exit_level(
    entry_side: OrderSide,
    entry_price: Decimal,
    percent: Decimal | None,
    atr: Decimal | None,
    atr_multiple: Decimal | None,
    tick: Decimal,
    *,
    in_favour: bool,
) -> Decimal:
    """The level `distance` away from the entry, in the position's favour (a target) or against it
    (a stop), rounded toward the entry."""
    entry_price = _require_price(entry_price)
    distance = _distance(entry_price, percent, atr, atr_multiple)
    upward = in_favour == (entry_side is OrderSide.BUY)
    if upward:
        return _level(entry_price + distance, tick, round_up=False)
    return _level(entry_price - distance, tick, round_up=True)


def stop_loss_price(
    entry_side: OrderSide,
    entry_price: Decimal,
    *,
    percent: Decimal | None = None,
    atr: Decimal | None = None,
    atr_multiple: Decimal | None = None,
    tick: Decimal = CENT,
) -> Decimal:
    """Where to stop out a position opened by `entry_side`, on the tick grid, rounded toward the
    entry so the loss taken is never larger than planned."""
    return _exit_level(entry_side, entry_price, percent, atr, atr_multiple, tick, in_favour=False)


def take_profit_price(
    entry_side: OrderSide,
    entry_price: Decimal,
    *,
    percent: Decimal | None = None,
    atr: Decimal | None = None,
    atr_multiple: Decimal | None = None,
    tick: Decimal = CENT,
) -> Decimal:
    """Where to take profit on a position opened by `entry_side`, on the tick grid, rounded toward
    the entry so the target is never further away than planned."""
    return _exit_level(entry_side, entry_price, percent, atr, atr_multiple, tick, in_favour=True)
