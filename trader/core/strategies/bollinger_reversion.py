"""Bollinger mean reversion: long on a close below the lower band, flat on a close above the middle."""

from __future__ import annotations

from dataclasses import dataclass

from trader.core.strategies.base import Signals
from trader.core.strategies.bollinger import BollingerStrategy
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class BollingerReversion(BollingerStrategy):
    @property
    def name(self) -> str:
        return "bollinger_reversion"

    def generate(self, bars: BarSeries) -> Signals:
        bands = self.bands(bars)
        return Signals(entries=bars.close < bands.lower, exits=bars.close > bands.middle)
