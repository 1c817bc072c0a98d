"""Bollinger breakout: long on a close above the upper band, flat on a close back below the middle."""

from __future__ import annotations

from dataclasses import dataclass

from trader.core.strategies.base import Signals
from trader.core.strategies.bollinger import BollingerStrategy
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class BollingerBreakout(BollingerStrategy):
    @property
    def name(self) -> str:
        return "bollinger_breakout"

    def generate(self, bars: BarSeries) -> Signals:
        bands = self.bands(bars)
        return Signals(entries=bars.close > bands.upper, exits=bars.close < bands.middle)
