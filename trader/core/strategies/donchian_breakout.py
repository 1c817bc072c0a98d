"""Donchian breakout: long on a close above the prior `entry_window` high, flat below the exit low."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from trader.core.indicators import rolling_max, rolling_min
from trader.core.strategies.base import Signals
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class DonchianBreakout:
    entry_window: int = 20
    exit_window: int = 10

    @property
    def name(self) -> str:
        return "donchian_breakout"

    @property
    def lookback_bars(self) -> int:
        return max(self.entry_window, self.exit_window) + 1

    def parameters(self) -> Mapping[str, object]:
        return {"entry_window": self.entry_window, "exit_window": self.exit_window}

    def generate(self, bars: BarSeries) -> Signals:
        # The channel excludes the current bar, or a close could never exceed the high it is part of.
        upper = np.full(len(bars), np.nan)
        lower = np.full(len(bars), np.nan)
        upper[1:] = rolling_max(bars.high, self.entry_window)[:-1]
        lower[1:] = rolling_min(bars.low, self.exit_window)[:-1]
        return Signals(entries=bars.close > upper, exits=bars.close < lower)
