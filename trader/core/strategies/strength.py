"""Signal strength: how strongly a strategy means its signal, in [0, 1].

Rule-based strategies mean every signal fully (1.0). A strategy that knows better (the ML
strategy maps its probability to a strength) implements `StrengthStrategy`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from trader.core.strategies.base import Strategy
from trader.core.strategies.series import BarSeries


@runtime_checkable
class StrengthStrategy(Protocol):
    def strengths(self, bars: BarSeries) -> NDArray[np.float64]:
        """Strength in [0, 1] of the signal at every bar; bars up to t only, like `generate`."""
        ...


def latest_strength(strategy: Strategy, bars: BarSeries) -> float:
    """Strength of the last bar's signal, on the same lookback window `evaluate_latest` uses."""
    if not isinstance(strategy, StrengthStrategy):
        return 1.0
    window = bars.tail(strategy.lookback_bars)
    value = float(strategy.strengths(window)[-1])
    if not np.isfinite(value):
        return 0.0
    return min(max(value, 0.0), 1.0)
