"""Multi-timeframe confirmation: a strategy's entries count only while the higher timeframe trends up.

Bars are grouped into higher-timeframe periods by their timestamps (weeks starting Monday by
default: `period_seconds` = 7 days, `anchor_offset_seconds` = 3 days because the epoch was a
Thursday). At bar t only periods that have *ended* are known, and a period has ended once a bar
of a later period exists; so the confirmation at t reads the periods before t's own. The higher
timeframe trends up when its last close is above the SMA of its last `trend_window` closes.
Exits always pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.core.indicators import sma
from trader.core.strategies.base import Signals, Strategy
from trader.core.strategies.series import BarSeries

_NANOSECONDS = 1_000_000_000
WEEK_SECONDS = 7 * 86_400
MONDAY_ANCHOR_SECONDS = 3 * 86_400


def completed_period_closes(
    timestamps_ns: NDArray[np.int64],
    close: NDArray[np.float64],
    period_seconds: int,
    anchor_offset_seconds: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """(period number of each bar, close of each period) with periods numbered 0.. in order seen."""
    period_ids = (timestamps_ns + anchor_offset_seconds * _NANOSECONDS) // (period_seconds * _NANOSECONDS)
    starts = np.ones(period_ids.shape, dtype=np.bool_)
    starts[1:] = period_ids[1:] != period_ids[:-1]
    number = np.cumsum(starts) - 1
    ends = np.ones(period_ids.shape, dtype=np.bool_)
    ends[:-1] = starts[1:]
    return number.astype(np.int64), close[ends]


@dataclass(frozen=True, slots=True)
class MultiTimeframeConfirmation:
    strategy: Strategy
    trend_window: int = 10
    period_seconds: int = WEEK_SECONDS
    anchor_offset_seconds: int = MONDAY_ANCHOR_SECONDS
    bars_per_period: int = 5  # the most bars one period holds; sizes the live window only

    def __post_init__(self) -> None:
        if self.trend_window < 1 or self.period_seconds < 1 or self.bars_per_period < 1:
            raise ValueError("trend_window, period_seconds and bars_per_period must be positive")

    @property
    def name(self) -> str:
        return f"multi_timeframe({self.strategy.name})"

    @property
    def lookback_bars(self) -> int:
        # trend_window completed periods, the current one, and one partial period at the window's start.
        return max(self.strategy.lookback_bars, (self.trend_window + 2) * self.bars_per_period)

    def parameters(self) -> Mapping[str, object]:
        return {
            "strategy": {"type": self.strategy.name, "parameters": dict(self.strategy.parameters())},
            "trend_window": self.trend_window,
            "period_seconds": self.period_seconds,
            "anchor_offset_seconds": self.anchor_offset_seconds,
            "bars_per_period": self.bars_per_period,
        }

    def confirmed(self, bars: BarSeries) -> NDArray[np.bool_]:
        number, closes = completed_period_closes(
            bars.timestamps_ns, bars.close, self.period_seconds, self.anchor_offset_seconds
        )
        # A window may start mid-period: that first period's close is real, but the period is
        # short, which is why the live window holds one period more than the trend needs.
        uptrend = closes > sma(closes, self.trend_window)
        result = np.zeros(len(bars), dtype=np.bool_)
        has_previous = number >= 1
        result[has_previous] = uptrend[number[has_previous] - 1]
        return result

    def generate(self, bars: BarSeries) -> Signals:
        inner = self.strategy.generate(bars)
        return Signals(entries=inner.entries & self.confirmed(bars), exits=inner.exits.copy())
