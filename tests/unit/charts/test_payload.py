"""The chart payload: each marker on the bar it happened in, indicator lines, equity points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from trader.charts.payload import BarLocator, Marker, chart_payload, day_returns, drawdowns, equity_points
from trader.core.indicators import rsi, sma
from trader.core.strategies.ensemble import Ensemble
from trader.core.strategies.overlays import OSCILLATOR_PANE, overlays_of
from trader.core.strategies.rsi_reversion import RsiReversion
from trader.core.strategies.series import BarSeries
from trader.core.strategies.sma_crossover import SmaCrossover

START = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


def minute_series(count: int) -> BarSeries:
    closes = [Decimal(100 + index % 7) for index in range(count)]
    moments = [START + timedelta(minutes=index) for index in range(count)]
    return BarSeries.from_decimal_columns(
        "AAPL", moments, closes, closes, closes, closes, closes, factors=None
    )


def test_a_moment_belongs_to_the_bar_that_contains_it() -> None:
    starts = [int((START + timedelta(minutes=index)).timestamp()) for index in range(3)]
    locator = BarLocator(starts, 60)
    assert locator.bar_of(START - timedelta(seconds=1)) is None
    assert locator.bar_of(START) == starts[0]
    assert locator.bar_of(START + timedelta(seconds=59, microseconds=999_999)) == starts[0]
    assert locator.bar_of(START + timedelta(minutes=2, seconds=30)) == starts[2]
    assert locator.bar_of(START + timedelta(minutes=3)) is None  # after the last bar ends


def test_markers_are_placed_in_time_order_and_outside_ones_left_out() -> None:
    series = minute_series(5)
    late = Marker("fill", "sell", START + timedelta(minutes=2, seconds=5), "sell 1 @ 102", 102.0, "b")
    early = Marker("fill", "buy", START + timedelta(seconds=30), "buy 1 @ 100", 100.0, "a")
    outside = Marker("order", "buy", START + timedelta(minutes=9), "buy 1", None, "c")
    payload = chart_payload(
        symbol="AAPL", timeframe="1min", bar_length=timedelta(minutes=1), series=series,
        markers=[late, outside, early],
    )  # fmt: skip
    first = int(START.timestamp())
    assert [(row["reference"], row["time"]) for row in payload["markers"]] == [
        ("a", first),
        ("b", first + 120),
    ]
    assert [bar["time"] for bar in payload["bars"]] == [first + 60 * index for index in range(5)]


def test_a_strategy_draws_the_lines_it_decides_on() -> None:
    series = minute_series(60)
    fast, slow = overlays_of(SmaCrossover(5, 20), series)
    assert (fast.name, slow.name) == ("SMA 5", "SMA 20")
    np.testing.assert_array_equal(slow.values, sma(series.close, 20))
    (oscillator,) = overlays_of(RsiReversion(14, 25.0, 75.0), series)
    assert (oscillator.pane, oscillator.levels) == (OSCILLATOR_PANE, (25.0, 75.0))
    np.testing.assert_array_equal(oscillator.values, rsi(series.close, 14))
    combined = overlays_of(Ensemble(members=(SmaCrossover(5, 20), RsiReversion())), series)
    assert [line.name for line in combined] == ["SMA 5", "SMA 20", "RSI 14"]
    payload = chart_payload(
        symbol="AAPL", timeframe="1min", bar_length=timedelta(minutes=1), series=series, overlays=[slow]
    )
    (line,) = payload["overlays"]
    assert len(line["points"]) == 60 - 19  # warm-up (NaN) points are not drawn


def test_equity_points_carry_drawdown_and_the_market_days_return() -> None:
    # 20:00 UTC is 15:00 in New York; 02:00 UTC the next day is still that New York evening.
    moments = [datetime(2024, 3, 4, 20, tzinfo=UTC), datetime(2024, 3, 5, 2, tzinfo=UTC),
               datetime(2024, 3, 5, 15, tzinfo=UTC), datetime(2024, 3, 5, 20, tzinfo=UTC)]  # fmt: skip
    equities = [Decimal(100), Decimal(110), Decimal(99), Decimal("104.5")]
    assert drawdowns(equities) == [0, 0, Decimal(99) / 110 - 1, Decimal("104.5") / 110 - 1]
    days = day_returns(moments, equities)
    assert days[:2] == [0, Decimal("0.1")]
    assert days[2:] == [Decimal(99) / 110 - 1, Decimal("104.5") / 110 - 1]
    points = equity_points(moments, equities)
    assert points[2]["drawdown"] == str(round(Decimal(99) / 110 - 1, 6))
    assert [point["timestamp"] for point in points] == [moment.isoformat() for moment in moments]
    with pytest.raises(ValueError):
        equity_points(moments, equities[:2])
