"""Point-in-time features of a universe, for models that rank symbols against each other each session.

Per symbol, from its bars up to the session: momentum over 5, 20 and 60 sessions, the one-session
return (short-term reversal), realised volatility over 20 and 60, the volume surprise (today's
volume against the 20 before it), average dollar volume, and the distance to the 20- and
50-session moving averages; then the 5- and 20-session momentum relative to the symbol's sector.
Each of these is turned into a cross-sectional z-score per session (clipped at +-3), so it says
how the symbol stands against the market that day. Two market columns (the universe's mean
20-session momentum and its mean volatility) let trees tell regimes apart.

The longest window is 60 sessions: the warm-up is 61 sessions, which fits a year of daily bars
(the 500-symbol sample has 245). Every column at session t uses sessions up to t only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.ml.panel import Panel

FloatArray = NDArray[np.float64]

MOMENTUM_WINDOWS = (5, 20, 60)
VOLATILITY_WINDOWS = (20, 60)
VOLUME_WINDOW = 20
SMA_WINDOWS = (20, 50)
SECTOR_WINDOWS = (5, 20)
Z_CLIP = 3.0
WARMUP_SESSIONS = max(*MOMENTUM_WINDOWS, *VOLATILITY_WINDOWS, *SMA_WINDOWS) + 1

SYMBOL_FEATURES: tuple[str, ...] = (
    *(f"momentum_{w}" for w in MOMENTUM_WINDOWS),
    "reversal_1",
    *(f"volatility_{w}" for w in VOLATILITY_WINDOWS),
    "volume_surprise",
    "dollar_volume_20",
    *(f"distance_sma_{w}" for w in SMA_WINDOWS),
    *(f"sector_relative_{w}" for w in SECTOR_WINDOWS),
)
MARKET_FEATURES: tuple[str, ...] = ("market_momentum_20", "market_volatility_20")
FEATURE_NAMES: tuple[str, ...] = SYMBOL_FEATURES + MARKET_FEATURES


@dataclass(frozen=True, slots=True, eq=False)
class FeatureCube:
    names: tuple[str, ...]
    values: FloatArray  # (sessions, symbols, features)


def _frame(values: FloatArray) -> Any:
    import pandas  # a second to import under load; the services import this module at start

    return pandas.DataFrame(values)


def _rolling_mean(values: FloatArray, window: int) -> FloatArray:
    return np.asarray(_frame(values).rolling(window, min_periods=window).mean().to_numpy(), dtype=np.float64)


def _rolling_std(values: FloatArray, window: int) -> FloatArray:
    return np.asarray(
        _frame(values).rolling(window, min_periods=window).std(ddof=1).to_numpy(), dtype=np.float64
    )


def _lagged_log_ratio(values: FloatArray, lag: int) -> FloatArray:
    result = np.full(values.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        result[lag:] = np.log(values[lag:] / values[:-lag])
    return result


def _row_means(values: FloatArray) -> FloatArray:
    """Mean of each row's finite entries; NaN for a row with none (and no warning about it)."""
    finite = np.isfinite(values)
    counts = finite.sum(axis=1)
    totals = np.where(finite, values, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, totals / counts, np.nan)


def _sector_relative(momentum: FloatArray, sectors: tuple[str, ...]) -> FloatArray:
    result = np.full(momentum.shape, np.nan)
    labels = np.asarray(sectors)
    for sector in np.unique(labels):
        members = labels == sector
        result[:, members] = momentum[:, members] - _row_means(momentum[:, members])[:, None]
    return result


def cross_sectional_zscores(values: FloatArray) -> FloatArray:
    """Per row: (x - mean) / std over the finite entries, clipped to +-Z_CLIP; NaN stays NaN."""
    finite = np.isfinite(values)
    counts = finite.sum(axis=1, keepdims=True)
    filled = np.where(finite, values, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = filled.sum(axis=1, keepdims=True) / counts
        spread = np.sqrt(np.where(finite, (values - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / counts)
        scores = np.where(spread > 0, (values - mean) / spread, 0.0)
    return np.where(finite, np.clip(scores, -Z_CLIP, Z_CLIP), np.nan)


def _symbol_columns(panel: Panel) -> list[FloatArray]:
    close, volume = panel.close, panel.volume
    daily = _lagged_log_ratio(close, 1)
    columns = [_lagged_log_ratio(close, w) for w in MOMENTUM_WINDOWS]
    columns.append(daily)
    columns += [_rolling_std(daily, w) for w in VOLATILITY_WINDOWS]
    previous_volume = np.full(volume.shape, np.nan)
    previous_volume[1:] = _rolling_mean(volume, VOLUME_WINDOW)[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        columns.append(np.log(volume / previous_volume))
        columns.append(np.log(_rolling_mean(close * volume, VOLUME_WINDOW)))
        columns += [close / _rolling_mean(close, w) - 1.0 for w in SMA_WINDOWS]
    columns += [_sector_relative(_lagged_log_ratio(close, w), panel.sectors) for w in SECTOR_WINDOWS]
    return columns


def compute_cross_features(panel: Panel) -> FeatureCube:
    sessions, symbols = panel.shape
    present = panel.present()
    columns = [np.where(present, column, np.nan) for column in _symbol_columns(panel)]
    for column in columns:
        column[~np.isfinite(column)] = np.nan
    zscores = [cross_sectional_zscores(column) for column in columns]
    momentum_20 = columns[SYMBOL_FEATURES.index("momentum_20")]
    volatility_20 = columns[SYMBOL_FEATURES.index("volatility_20")]
    market = [_row_means(momentum_20), _row_means(volatility_20)]
    market_columns = [np.where(present, value[:, None], np.nan) for value in market]
    values = np.stack(zscores + market_columns, axis=2) if sessions else np.empty((0, symbols, 0))
    return FeatureCube(FEATURE_NAMES, np.ascontiguousarray(values, dtype=np.float64))
