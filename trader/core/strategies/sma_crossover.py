"""SMA crossover: long when the fast SMA crosses above the slow one, flat when it crosses below."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trader.core.indicators import sma
from trader.core.strategies.base import Signals
from trader.core.strategies.crossing import cross_above, cross_below
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class SmaCrossover:
    fast_window: int = 10
    slow_window: int = 30

    def __post_init__(self) -> None:
        if not 1 <= self.fast_window < self.slow_window:
            raise ValueError(f"need 1 <= fast < slow, got fast={self.fast_window} slow={self.slow_window}")

    @property
    def name(self) -> str:
        return "sma_crossover"

    @property
    def lookback_bars(self) -> int:
        # The slow SMA at t and at t-1 are both needed to see a cross at t.
        return self.slow_window + 1

    def parameters(self) -> Mapping[str, object]:
        return {"fast_window": self.fast_window, "slow_window": self.slow_window}

    def generate(self, bars: BarSeries) -> Signals:
        fast = sma(bars.close, self.fast_window)
        slow = sma(bars.close, self.slow_window)
        return Signals(entries=cross_above(fast, slow), exits=cross_below(fast, slow))
