"""Deterministic synthetic bars (geometric Brownian motion) for benchmarks and tests.

Prices sit on a 1/128 tick: such numbers are exact in binary floating point, so every engine
computes identical moving averages from them and any disagreement left is in engine logic.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from trader.core.strategies.series import BarSeries, to_epoch_nanoseconds

BINARY_TICK = 1.0 / 128.0
_START_AT = datetime(2020, 1, 1, tzinfo=UTC)


def gbm_bars(
    size: int,
    *,
    seed: int = 42,
    symbol: str = "GBM",
    start_price: float = 100.0,
    volatility: float = 0.001,
    tick: float = BINARY_TICK,
    bar_seconds: int = 60,
) -> BarSeries:
    """`size` bars of a driftless GBM with per-bar volatility `volatility`, rounded to `tick`."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    rng = np.random.default_rng(seed)
    closes = start_price * np.exp(np.cumsum(rng.normal(0.0, volatility, size)))
    opens = np.empty(size)
    opens[0] = start_price
    opens[1:] = closes[:-1] * np.exp(rng.normal(0.0, volatility / 4.0, size - 1))
    wick_up = np.exp(np.abs(rng.normal(0.0, volatility / 2.0, size)))
    wick_down = np.exp(-np.abs(rng.normal(0.0, volatility / 2.0, size)))
    opens = np.maximum(np.round(opens / tick), 1.0) * tick
    closes = np.maximum(np.round(closes / tick), 1.0) * tick
    highs = np.maximum(np.round(np.maximum(opens, closes) * wick_up / tick) * tick, np.maximum(opens, closes))
    lows = np.minimum(
        np.round(np.minimum(opens, closes) * wick_down / tick) * tick, np.minimum(opens, closes)
    )
    lows = np.maximum(lows, tick)
    volumes = rng.integers(100, 10_000, size).astype(np.float64)
    start_ns = to_epoch_nanoseconds(_START_AT)
    timestamps = start_ns + np.arange(size, dtype=np.int64) * bar_seconds * 1_000_000_000
    return BarSeries(symbol, timestamps, opens, highs, lows, closes, volumes)
