"""MACD: long when the MACD line crosses above its signal line, flat when it crosses below."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trader.core.indicators import macd
from trader.core.strategies.base import Signals
from trader.core.strategies.crossing import cross_above, cross_below
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class MacdCrossover:
    fast_window: int = 12
    slow_window: int = 26
    signal_window: int = 9
    warmup_multiple: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.fast_window < self.slow_window:
            raise ValueError(f"need 1 <= fast < slow, got fast={self.fast_window} slow={self.slow_window}")

    @property
    def name(self) -> str:
        return "macd_crossover"

    @property
    def lookback_bars(self) -> int:
        # EMAs decay geometrically; ten slow spans leave the seed's weight below 1e-8.
        return (self.slow_window + self.signal_window) * self.warmup_multiple

    def parameters(self) -> Mapping[str, object]:
        return {
            "fast_window": self.fast_window,
            "slow_window": self.slow_window,
            "signal_window": self.signal_window,
        }

    def generate(self, bars: BarSeries) -> Signals:
        lines = macd(bars.close, self.fast_window, self.slow_window, self.signal_window)
        return Signals(
            entries=cross_above(lines.macd, lines.signal), exits=cross_below(lines.macd, lines.signal)
        )
