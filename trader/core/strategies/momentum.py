"""Momentum: long when the rate of change over `window` bars rises above `entry_percent`,
flat when it falls below `exit_percent` (both in percent)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from trader.core.indicators import roc
from trader.core.strategies.base import Signals
from trader.core.strategies.crossing import cross_above, cross_below
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class Momentum:
    window: int = 20
    entry_percent: float = 5.0
    exit_percent: float = 0.0

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if self.exit_percent >= self.entry_percent:
            raise ValueError(
                f"need exit_percent < entry_percent, got {self.exit_percent} >= {self.entry_percent}"
            )

    @property
    def name(self) -> str:
        return "momentum"

    @property
    def lookback_bars(self) -> int:
        # The rate of change at t and at t-1 are both needed to see it cross a threshold.
        return self.window + 2

    def parameters(self) -> Mapping[str, object]:
        return {"window": self.window, "entry_percent": self.entry_percent, "exit_percent": self.exit_percent}

    def generate(self, bars: BarSeries) -> Signals:
        change = roc(bars.close, self.window)
        entry_level = np.full(change.shape, self.entry_percent)
        exit_level = np.full(change.shape, self.exit_percent)
        return Signals(entries=cross_above(change, entry_level), exits=cross_below(change, exit_level))
