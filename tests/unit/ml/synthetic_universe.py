"""Seeded synthetic universes for the validation tests: a random walk, or one with a planted edge.

Daily log returns r[t, j] = reversal * r[t-1, j] + noise; bars open at the previous close, so a
trade entered at the next open captures what the model predicts. With `reversal` = 0 the
universe is a pure random walk: nothing is there to find.
"""

from __future__ import annotations

import numpy as np

from trader.core.strategies.series import BarSeries
from trader.ml.panel import Panel, build_panel

DAY_NS = 86_400 * 1_000_000_000
START_NS = 1_262_649_600 * 1_000_000_000  # 2010-01-05 00:00 UTC


def synthetic_universe(
    *,
    symbols: int,
    sessions: int,
    reversal: float,
    seed: int,
    volatility: float = 0.015,
    drift: float = 0.0003,
) -> Panel:
    rng = np.random.default_rng(seed)
    noise = rng.normal(drift, volatility, (sessions, symbols))
    returns = np.empty_like(noise)
    returns[0] = noise[0]
    for t in range(1, sessions):
        returns[t] = reversal * returns[t - 1] + noise[t]
    close = 50.0 * np.exp(np.cumsum(returns, axis=0))
    open_ = np.vstack([close[:1] / np.exp(returns[:1]), close[:-1]])
    wiggle = np.abs(rng.normal(0.0, volatility / 3, (sessions, symbols)))
    high = np.maximum(open_, close) * (1.0 + wiggle)
    low = np.minimum(open_, close) * (1.0 - wiggle)
    volume = rng.lognormal(13.0, 0.3, (sessions, symbols))
    timestamps = START_NS + np.arange(sessions, dtype=np.int64) * DAY_NS
    series = [
        BarSeries.from_arrays(
            f"S{j:03d}", timestamps, open_[:, j], high[:, j], low[:, j], close[:, j], volume[:, j]
        )
        for j in range(symbols)
    ]
    sectors = {f"S{j:03d}": f"sector{j % 4}" for j in range(symbols)}
    return build_panel(series, sectors)
