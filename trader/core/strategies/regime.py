"""Market regimes (trend and volatility) and a filter that lets any strategy trade only in chosen ones.

Trend regime at t: UP when the close is above its `trend_window` SMA and that SMA is higher than
`slope_bars` bars ago, DOWN when both point the other way, SIDEWAYS otherwise (and during warm-up).

Volatility regime at t: the standard deviation of one-bar log returns over `volatility_window`
bars, divided by the mean of that figure over the last `baseline_window` bars. HIGH above
`high_ratio`, LOW below `low_ratio`, NORMAL between (and during warm-up, so a filter never
trades on a regime it could not yet know).

Both use bars up to t only. The filter gates entries; exits always pass, so a position opened in
a good regime can still be closed after the regime turns.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.core.indicators import rolling_std, sma
from trader.core.strategies.base import Signals, Strategy
from trader.core.strategies.series import BarSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class TrendRegime(enum.IntEnum):
    DOWN = -1
    SIDEWAYS = 0
    UP = 1


class VolatilityRegime(enum.IntEnum):
    LOW = -1
    NORMAL = 0
    HIGH = 1


def log_returns(close: FloatArray) -> FloatArray:
    """One-bar log returns; the first bar has none (NaN)."""
    result = np.full(close.shape, np.nan)
    if close.size > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            result[1:] = np.log(close[1:] / close[:-1])
    return result


def trend_regime(close: FloatArray, trend_window: int = 50, slope_bars: int = 5) -> IntArray:
    if slope_bars < 1:
        raise ValueError(f"slope_bars must be >= 1, got {slope_bars}")
    average = sma(close, trend_window)
    rising = np.zeros(close.shape, dtype=np.bool_)
    falling = np.zeros(close.shape, dtype=np.bool_)
    if close.size > slope_bars:
        rising[slope_bars:] = average[slope_bars:] > average[:-slope_bars]
        falling[slope_bars:] = average[slope_bars:] < average[:-slope_bars]
    regime = np.zeros(close.shape, dtype=np.int64)
    regime[(close > average) & rising] = TrendRegime.UP
    regime[(close < average) & falling] = TrendRegime.DOWN
    return regime


def volatility_ratio(
    close: FloatArray, volatility_window: int = 20, baseline_window: int = 100
) -> FloatArray:
    """Current realised volatility over its own recent average (NaN during warm-up)."""
    returns = log_returns(close)
    volatility = np.full(close.shape, np.nan)
    if close.size > 1:
        volatility[1:] = rolling_std(returns[1:], volatility_window)
    baseline = np.full(close.shape, np.nan)
    known = np.flatnonzero(~np.isnan(volatility))
    if known.size:
        first = int(known[0])
        baseline[first:] = sma(volatility[first:], baseline_window)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio: FloatArray = volatility / baseline
    return ratio


def volatility_regime(
    close: FloatArray,
    volatility_window: int = 20,
    baseline_window: int = 100,
    low_ratio: float = 0.75,
    high_ratio: float = 1.5,
) -> IntArray:
    ratio = volatility_ratio(close, volatility_window, baseline_window)
    regime = np.zeros(close.shape, dtype=np.int64)
    regime[ratio > high_ratio] = VolatilityRegime.HIGH
    regime[ratio < low_ratio] = VolatilityRegime.LOW
    return regime


def _parse_regimes(text: str, kind: type[enum.IntEnum]) -> frozenset[int]:
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError(f"name at least one {kind.__name__} ({', '.join(m.name.lower() for m in kind)})")
    values = set()
    for name in names:
        if name not in kind.__members__:
            allowed = ", ".join(member.name.lower() for member in kind)
            raise ValueError(f"unknown {kind.__name__} {name.lower()!r}; use {allowed}")
        values.add(int(kind[name]))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class RegimeFilter:
    """Wrap `strategy`: its entries count only in the allowed trend and volatility regimes.

    `allowed_trends` and `allowed_volatility` are comma-separated names, e.g. "up" and "low,normal".
    """

    strategy: Strategy
    allowed_trends: str = "up"
    allowed_volatility: str = "low,normal"
    trend_window: int = 50
    slope_bars: int = 5
    volatility_window: int = 20
    baseline_window: int = 100
    low_ratio: float = 0.75
    high_ratio: float = 1.5

    def __post_init__(self) -> None:
        _parse_regimes(self.allowed_trends, TrendRegime)
        _parse_regimes(self.allowed_volatility, VolatilityRegime)
        if not 0 < self.low_ratio < self.high_ratio:
            raise ValueError(f"need 0 < low_ratio < high_ratio, got {self.low_ratio}, {self.high_ratio}")

    @property
    def name(self) -> str:
        return f"regime_filter({self.strategy.name})"

    @property
    def lookback_bars(self) -> int:
        regime_bars = max(self.trend_window + self.slope_bars, self.volatility_window + self.baseline_window)
        return max(self.strategy.lookback_bars, regime_bars + 1)

    def parameters(self) -> Mapping[str, object]:
        return {
            "strategy": {"type": self.strategy.name, "parameters": dict(self.strategy.parameters())},
            "allowed_trends": self.allowed_trends,
            "allowed_volatility": self.allowed_volatility,
            "trend_window": self.trend_window,
            "slope_bars": self.slope_bars,
            "volatility_window": self.volatility_window,
            "baseline_window": self.baseline_window,
            "low_ratio": self.low_ratio,
            "high_ratio": self.high_ratio,
        }

    def allowed(self, bars: BarSeries) -> NDArray[np.bool_]:
        """Bars on which the regime lets an entry through."""
        trends = trend_regime(bars.close, self.trend_window, self.slope_bars)
        volatility = volatility_regime(
            bars.close, self.volatility_window, self.baseline_window, self.low_ratio, self.high_ratio
        )
        trend_ok = np.isin(trends, list(_parse_regimes(self.allowed_trends, TrendRegime)))
        volatility_ok = np.isin(volatility, list(_parse_regimes(self.allowed_volatility, VolatilityRegime)))
        return np.asarray(trend_ok & volatility_ok, dtype=np.bool_)

    def generate(self, bars: BarSeries) -> Signals:
        inner = self.strategy.generate(bars)
        return Signals(entries=inner.entries & self.allowed(bars), exits=inner.exits.copy())
