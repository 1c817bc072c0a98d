"""Bollinger breakout: long on a close above the upper band, flat on a close back below the middle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trader.core.indicators import bollinger_bands
from trader.core.strategies.base import Signals
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class BollingerBreakout:
    window: int = 20
    deviations: float = 2.0

    def __post_init__(self) -> None:
        if self.window < 2 or self.deviations <= 0:
            raise ValueError(f"need window >= 2 and deviations > 0, got {self.window}, {self.deviations}")

    @property
    def name(self) -> str:
        return "bollinger_breakout"

    @property
    def lookback_bars(self) -> int:
        return self.window

    def parameters(self) -> Mapping[str, object]:
        return {"window": self.window, "deviations": self.deviations}

    def generate(self, bars: BarSeries) -> Signals:
        bands = bollinger_bands(bars.close, self.window, self.deviations)
        return Signals(entries=bars.close > bands.upper, exits=bars.close < bands.middle)
