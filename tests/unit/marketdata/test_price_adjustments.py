"""Adjustment factors from an adjusted close, split detection, and the adjusted series."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from trader.core.adjustments import (
    SplitEvent,
    adjust_bar,
    adjust_bars,
    derive_adjustment_factors,
    detect_splits,
    split_factors,
    with_factors,
)
from trader.core.market import Bar, Timeframe


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


DAYS = [
    utc(2000, 6, 19, 13, 30),
    utc(2000, 6, 20, 13, 30),
    utc(2000, 6, 21, 13, 30),
    utc(2000, 6, 22, 13, 30),
]
# AAPL around its 2:1 split on 2000-06-21 (bokeh sample data: raw close, Adj Close).
RAW = [Decimal("96.62"), Decimal("101.25"), Decimal("55.63"), Decimal("53.75")]
ADJUSTED = [
    Decimal("3.1042541639492"),
    Decimal("3.2530090467797"),
    Decimal("3.5746151757502"),
    Decimal("3.4538120743587"),
]


def daily(at: datetime, close: Decimal, volume: int = 1000) -> Bar:
    return Bar("AAPL", Timeframe.DAY1, at, close, close, close, close, Decimal(volume))


def test_factors_are_the_ratio_normalized_to_the_last_bar() -> None:
    factors = derive_adjustment_factors(RAW, ADJUSTED)
    assert factors[-1] == Decimal(1)
    assert factors[0] == pytest.approx(Decimal("0.5"), rel=Decimal("0.01"))
    raw_ratio = derive_adjustment_factors(RAW, ADJUSTED, normalize_to_last=False)
    assert raw_ratio[2] == (ADJUSTED[2] / RAW[2]).quantize(Decimal("1e-12"))


def test_a_split_is_not_a_crash_in_the_adjusted_series() -> None:
    raw_bars = [daily(at, close) for at, close in zip(DAYS, RAW, strict=True)]
    bars = with_factors(raw_bars, derive_adjustment_factors(RAW, ADJUSTED))
    raw_move = bars[2].close / bars[1].close - 1
    adjusted = adjust_bars(bars)
    adjusted_move = adjusted[2].close / adjusted[1].close - 1
    assert raw_move < Decimal("-0.4")  # the raw series shows a 45% "crash"
    assert abs(adjusted_move) < Decimal("0.1")  # AAPL really rose 9.9% that day
    assert adjusted[3].close == bars[3].close  # the newest bar keeps its raw price
    assert adjusted[2].close == pytest.approx(bars[2].close, rel=Decimal("1e-9"))  # no dividend in between
    assert all(bar.adjustment_factor == 1 for bar in adjusted)
    assert adjusted[0].volume == pytest.approx(Decimal(2000), rel=Decimal("0.01"))


def test_detects_the_split_and_ignores_dividend_sized_moves() -> None:
    factors = [Decimal("0.49"), Decimal("0.495"), Decimal("0.99"), Decimal("1")]
    assert detect_splits(DAYS, factors) == [SplitEvent(DAYS[2], Fraction(2))]


def test_split_only_factors() -> None:
    factors = split_factors(DAYS, [SplitEvent(DAYS[2], Fraction(2)), SplitEvent(DAYS[3], Fraction(3, 2))])
    assert factors == [
        Decimal("0.333333333333"),
        Decimal("0.333333333333"),
        Decimal("0.666666666667"),
        Decimal(1),
    ]


def test_adjusting_twice_changes_nothing() -> None:
    bar = with_factors([daily(DAYS[0], Decimal("100"))], [Decimal("0.5")])[0]
    once = adjust_bar(bar)
    assert once.close == Decimal("50")
    assert adjust_bar(once) == once


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="row 1"):
        derive_adjustment_factors([Decimal(1), Decimal(0)], [Decimal(1), Decimal(1)])
    with pytest.raises(ValueError, match="2 raw closes but 1"):
        derive_adjustment_factors([Decimal(1), Decimal(2)], [Decimal(1)])
