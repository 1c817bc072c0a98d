"""Labels from forward returns: did the close `horizon` bars ahead rise by more than `threshold`?"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def forward_returns(close: FloatArray, horizon: int) -> FloatArray:
    """Log return from bar t's close to bar t+horizon's close; NaN where the future is not in the data."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    result = np.full(close.shape, np.nan)
    if close.size > horizon:
        with np.errstate(divide="ignore", invalid="ignore"):
            result[:-horizon] = np.log(close[horizon:] / close[:-horizon])
    return result


def up_labels(close: FloatArray, horizon: int, threshold: float = 0.0) -> FloatArray:
    """1.0 where the forward return beats `threshold`, 0.0 where not, NaN where unknown."""
    future = forward_returns(close, horizon)
    labels = np.where(future > threshold, 1.0, 0.0)
    labels[np.isnan(future)] = np.nan
    return labels
