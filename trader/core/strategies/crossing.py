"""When one line crosses another, with ties spelled out.

Up at t:   fast[t] > slow[t]  and fast[t-1] <= slow[t-1]
Down at t: fast[t] < slow[t]  and fast[t-1] >= slow[t-1]

So a touch (equal values) followed by a move through counts as a cross on the bar that moved
through, and a touch that turns back is no cross. Bars where either line is NaN (warm-up) never
cross, nor does the bar right after them (it has no defined previous bar).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def cross_above(fast: NDArray[np.float64], slow: NDArray[np.float64]) -> NDArray[np.bool_]:
    result = np.zeros(fast.shape, dtype=np.bool_)
    if fast.size > 1:
        result[1:] = (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1])
    return result


def cross_below(fast: NDArray[np.float64], slow: NDArray[np.float64]) -> NDArray[np.bool_]:
    result = np.zeros(fast.shape, dtype=np.bool_)
    if fast.size > 1:
        result[1:] = (fast[1:] < slow[1:]) & (fast[:-1] >= slow[:-1])
    return result
