"""RSI mean reversion: long when RSI closes below `oversold`, flat when it closes above `overbought`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trader.core.indicators import rsi
from trader.core.strategies.base import Signals
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class RsiReversion:
    window: int = 14
    oversold: float = 30.0
    overbought: float = 70.0
    warmup_multiple: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.oversold < self.overbought < 100.0:
            raise ValueError(f"need 0 < oversold < overbought < 100, got {self.oversold}, {self.overbought}")

    @property
    def name(self) -> str:
        return "rsi_reversion"

    @property
    def lookback_bars(self) -> int:
        # Wilder smoothing never forgets: a window this long makes the live value agree with
        # the full-history one to well under a point of RSI.
        return self.window * self.warmup_multiple

    def parameters(self) -> Mapping[str, object]:
        return {"window": self.window, "oversold": self.oversold, "overbought": self.overbought}

    def generate(self, bars: BarSeries) -> Signals:
        values = rsi(bars.close, self.window)
        return Signals(entries=values < self.oversold, exits=values > self.overbought)
