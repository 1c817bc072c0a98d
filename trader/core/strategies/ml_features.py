"""Engineered features for the machine-learning strategy: a matrix whose row t uses bars up to t.

Multi-horizon log returns, realised volatility, indicator values (RSI, MACD histogram, Bollinger
%B, ATR), a volume z-score and the market regime. Every column is built from the causal kernels
in `trader.core.indicators` and `trader.core.strategies.regime`; the tests prove it by computing
the matrix on truncated histories and on histories whose future was altered.
Warm-up rows hold NaN (gradient-boosted trees take NaN as "unknown").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.core.indicators import atr, bollinger_bands, macd, rolling_std, rsi, sma
from trader.core.strategies.regime import log_returns, trend_regime, volatility_ratio
from trader.core.strategies.series import BarSeries

FloatArray = NDArray[np.float64]

RETURN_HORIZONS = (1, 5, 10, 20)
VOLATILITY_WINDOWS = (10, 20)
VOLUME_WINDOW = 20
FEATURE_NAMES: tuple[str, ...] = (
    *(f"return_{h}" for h in RETURN_HORIZONS),
    *(f"volatility_{w}" for w in VOLATILITY_WINDOWS),
    "rsi_14",
    "macd_histogram",
    "bollinger_percent_b",
    "atr_14_fraction",
    f"volume_zscore_{VOLUME_WINDOW}",
    "trend_regime",
    "volatility_ratio",
)
# Bars of history after which every column is defined and the EMA-based ones have forgotten
# their seed to well under 1e-6 (MACD slow span 26, RSI Wilder span 14).
FEATURE_WARMUP_BARS = 300


@dataclass(frozen=True, slots=True, eq=False)
class FeatureMatrix:
    names: tuple[str, ...]
    values: FloatArray  # shape (bars, features)

    def column(self, name: str) -> FloatArray:
        return self.values[:, self.names.index(name)]

    def row(self, index: int) -> dict[str, float]:
        return {name: float(value) for name, value in zip(self.names, self.values[index], strict=True)}


def _horizon_return(close: FloatArray, horizon: int) -> FloatArray:
    result = np.full(close.shape, np.nan)
    if close.size > horizon:
        with np.errstate(divide="ignore", invalid="ignore"):
            result[horizon:] = np.log(close[horizon:] / close[:-horizon])
    return result


def _shifted_rolling_std(values: FloatArray, window: int) -> FloatArray:
    """Rolling std of a series whose first value is NaN (one-bar returns)."""
    result = np.full(values.shape, np.nan)
    if values.size > 1:
        result[1:] = rolling_std(values[1:], window)
    return result


def compute_features(bars: BarSeries) -> FeatureMatrix:
    close, volume = bars.close, bars.volume
    returns = log_returns(close)
    columns: list[FloatArray] = [_horizon_return(close, h) for h in RETURN_HORIZONS]
    columns += [_shifted_rolling_std(returns, w) for w in VOLATILITY_WINDOWS]
    columns.append(rsi(close, 14) / 100.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        columns.append(macd(close).histogram / close)
        bands = bollinger_bands(close, 20, 2.0)
        columns.append((close - bands.lower) / (bands.upper - bands.lower))
        columns.append(atr(bars.high, bars.low, close, 14) / close)
        volume_mean = sma(volume, VOLUME_WINDOW)
        volume_deviation = rolling_std(volume, VOLUME_WINDOW)
        zscore = (volume - volume_mean) / volume_deviation
    # A window of identical volumes has no spread: its z-score is 0, not undefined.
    columns.append(np.where(volume_deviation > 0, zscore, np.where(np.isnan(volume_deviation), np.nan, 0.0)))
    columns.append(trend_regime(close).astype(np.float64))
    columns.append(volatility_ratio(close))
    values = np.column_stack(columns) if len(bars) else np.empty((0, len(FEATURE_NAMES)))
    values[~np.isfinite(values)] = np.nan
    return FeatureMatrix(FEATURE_NAMES, np.ascontiguousarray(values, dtype=np.float64))
