"""Corporate-action adjustment: factors from an adjusted close, and applying them to bars.

A factor multiplies a raw price into the adjusted series (`Bar.adjustment_factor`). Raw bars are
what traded that day; the adjusted series is what a strategy should read, because there a 2:1
split is a continuous line instead of a 50% crash.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from trader.core.market import Bar
from trader.core.money import to_price, to_quantity

FACTOR_QUANTUM = Decimal("1e-12")


class AdjustmentKind(enum.Enum):
    """Which corporate actions a stored factor covers.

    ALL (splits and cash dividends) is what the replay data carries (Quandl's `Adj Close`), so live
    providers ask for it too: a strategy then reads the same kind of series in a backtest on the
    replay data and live. SPLITS leaves dividend drops in the series (a few percent, never a crash).
    """

    SPLITS = "splits"
    ALL = "all"


def derive_adjustment_factors(
    raw_closes: Sequence[Decimal], adjusted_closes: Sequence[Decimal], *, normalize_to_last: bool = True
) -> list[Decimal]:
    """Factor per bar = adjusted close / raw close.

    With `normalize_to_last` the factors are divided by the last one, so the newest bar keeps its
    raw prices: the data's adjusted column may include actions after the data ends (bokeh's was
    computed in 2018 and carries AAPL's 2014 7:1 split), which would otherwise shift everything.
    """
    if len(raw_closes) != len(adjusted_closes):
        raise ValueError(f"{len(raw_closes)} raw closes but {len(adjusted_closes)} adjusted closes")
    if not raw_closes:
        return []
    ratios = []
    for index, (raw, adjusted) in enumerate(zip(raw_closes, adjusted_closes, strict=True)):
        if not (raw.is_finite() and adjusted.is_finite()) or raw <= 0 or adjusted <= 0:
            raise ValueError(
                f"row {index}: cannot derive a factor from close {raw} and adjusted close {adjusted}"
            )
        ratios.append(adjusted / raw)
    base = ratios[-1] if normalize_to_last else Decimal(1)
    return [(ratio / base).quantize(FACTOR_QUANTUM, rounding=ROUND_HALF_EVEN) for ratio in ratios]


@dataclass(frozen=True, slots=True)
class SplitEvent:
    """A split effective at the session starting `effective_at`: `ratio` new shares per old (2 for 2:1)."""

    effective_at: datetime
    ratio: Fraction


_COMMON_SPLIT_RATIOS = tuple(
    Fraction(new, old)
    for new, old in (
        (2, 1),
        (3, 1),
        (3, 2),
        (4, 1),
        (5, 4),
        (5, 1),
        (7, 1),
        (8, 1),
        (10, 1),
        (1, 2),
        (1, 5),
        (1, 10),
    )
)


def detect_splits(
    starts_at: Sequence[datetime], factors: Sequence[Decimal], *, tolerance: Decimal = Decimal("0.02")
) -> list[SplitEvent]:
    """Find splits in a factor series: a jump between consecutive factors close to a common split ratio.

    Dividends move the factor by a few percent at most, so they never match a split ratio.
    """
    if len(starts_at) != len(factors):
        raise ValueError(f"{len(starts_at)} timestamps but {len(factors)} factors")
    events = []
    for index in range(1, len(factors)):
        if factors[index - 1] <= 0:
            raise ValueError(f"factor at {starts_at[index - 1].isoformat()} is not positive")
        jump = factors[index] / factors[index - 1]
        for ratio in _COMMON_SPLIT_RATIOS:
            expected = Decimal(ratio.numerator) / Decimal(ratio.denominator)
            if abs(jump - expected) <= tolerance * expected:
                events.append(SplitEvent(starts_at[index], ratio))
                break
    return events


def split_factors(starts_at: Sequence[datetime], splits: Iterable[SplitEvent]) -> list[Decimal]:
    """Split-only factors: each bar is divided by the ratios of every split effective after it."""
    ordered = sorted(splits, key=lambda event: event.effective_at)
    factors = []
    for moment in starts_at:
        factor = Fraction(1)
        for event in ordered:
            if event.effective_at > moment:
                factor /= event.ratio
        factors.append(Decimal(factor.numerator) / Decimal(factor.denominator))
    return [factor.quantize(FACTOR_QUANTUM, rounding=ROUND_HALF_EVEN) for factor in factors]


def with_factors(bars: Sequence[Bar], factors: Sequence[Decimal]) -> list[Bar]:
    """The same raw bars carrying the given adjustment factors."""
    if len(bars) != len(factors):
        raise ValueError(f"{len(bars)} bars but {len(factors)} factors")
    return [replace(bar, adjustment_factor=factor) for bar, factor in zip(bars, factors, strict=True)]


def adjust_bar(bar: Bar) -> Bar:
    """The adjusted view of a raw bar: prices times the factor, volume divided by it (shares scale
    inversely with price), factor reset to 1 so the result is never adjusted twice."""
    factor = bar.adjustment_factor
    if factor == 1:
        return bar
    if factor <= 0:
        raise ValueError(
            f"{bar.symbol} bar at {bar.timestamp.isoformat()} has a non-positive factor {factor}"
        )
    return replace(
        bar,
        open=to_price(bar.open * factor),
        high=to_price(bar.high * factor),
        low=to_price(bar.low * factor),
        close=to_price(bar.close * factor),
        volume=to_quantity(bar.volume / factor),
        adjustment_factor=Decimal(1),
    )


def adjust_bars(bars: Iterable[Bar]) -> list[Bar]:
    return [adjust_bar(bar) for bar in bars]
