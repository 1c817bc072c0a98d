"""Bollinger mean reversion: long on a close below the lower band, flat on a close above the middle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trader.core.indicators import bollinger_bands
from trader.core.strategies.base import Signals
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class BollingerReversion:
    window: int = 20
    deviations: float = 2.0

    @property
    def name(self) -> str:
        return "bollinger_reversion"

    @property
    def lookback_bars(self) -> int:
        return self.window

    def parameters(self) -> Mapping[str, object]:
        return {"window": self.window, "deviations": self.deviations}

    def generate(self, bars: BarSeries) -> Signals:
        bands = bollinger_bands(bars.close, self.window, self.deviations)
        return Signals(entries=bars.close < bands.lower, exits=bars.close > bands.middle)
