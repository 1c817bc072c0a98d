from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from trader.core.market import Bar, Timeframe
from trader.core.strategies import BarSeries


def make_bars(count: int, factor: str = "1") -> list[Bar]:
    start = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    return [
        Bar(
            symbol="MSFT",
            timeframe=Timeframe.MINUTE1,
            timestamp=start + timedelta(minutes=index),
            open=Decimal(100 + index),
            high=Decimal(101 + index),
            low=Decimal(99 + index),
            close=Decimal("100.5") + index,
            volume=Decimal(1000),
            adjustment_factor=Decimal(factor),
        )
        for index in range(count)
    ]


def test_from_bars_keeps_times_and_applies_the_adjustment_factor() -> None:
    bars = make_bars(3, factor="0.5")
    series = BarSeries.from_bars(bars)
    assert series.timestamp_at(2) == bars[2].timestamp
    assert series.close.tolist() == [50.25, 50.75, 51.25]
    assert BarSeries.from_bars(bars, adjusted=False).close.tolist() == [100.5, 101.5, 102.5]
    assert len(series.head(2)) == 2 and series.tail(1).timestamp_at(0) == bars[2].timestamp


def test_mixed_symbols_unsorted_times_and_ragged_columns_raise() -> None:
    bars = make_bars(2)
    with pytest.raises(ValueError, match="increasing"):
        BarSeries.from_bars([bars[1], bars[0]])
    with pytest.raises(ValueError, match="shape"):
        BarSeries.from_arrays("X", [1, 2], [1.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0])
    other = Bar(
        symbol="AAPL",
        timeframe=Timeframe.MINUTE1,
        timestamp=bars[1].timestamp + timedelta(minutes=1),
        open=Decimal(1),
        high=Decimal(1),
        low=Decimal(1),
        close=Decimal(1),
        volume=Decimal(1),
    )
    with pytest.raises(ValueError, match="one symbol"):
        BarSeries.from_bars([*bars, other])
    assert (
        BarSeries.from_arrays("X", np.array([5]), [1.0], [1.0], [1.0], [1.0], [1.0]).timestamps_ns.dtype
        == np.int64
    )
