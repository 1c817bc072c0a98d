"""What the Bollinger strategies share: their two parameters, their checks and their warm-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trader.core.indicators import Bands, bollinger_bands
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class BollingerStrategy:
    window: int = 20
    deviations: float = 2.0

    def __post_init__(self) -> None:
        if self.window < 2 or self.deviations <= 0:
            raise ValueError(f"need window >= 2 and deviations > 0, got {self.window}, {self.deviations}")

    @property
    def lookback_bars(self) -> int:
        return self.window

    def parameters(self) -> Mapping[str, object]:
        return {"window": self.window, "deviations": self.deviations}

    def bands(self, bars: BarSeries) -> Bands:
        return bollinger_bands(bars.close, self.window, self.deviations)
