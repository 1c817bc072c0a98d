"""The probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation (CSCV).

Given the period returns of N trials (columns) over T periods (rows), CSCV cuts the rows into S
equal, contiguous blocks and, for every way of choosing S/2 of them as "in-sample", picks the
trial with the best in-sample Sharpe ratio and looks up its rank among all trials on the other
S/2 blocks. With relative rank w = rank / (N + 1) (rank 1 is the worst), the logit
ln(w / (1 - w)) is <= 0 when the in-sample winner does no better than the median out of sample;
PBO is the share of splits where that happens. A search that finds real skill has PBO near 0; a
search over noise has PBO near 0.5 or above.

Reference: D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "The Probability of
Backtest Overfitting", Journal of Computational Finance 20(4), 2017.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class OverfittingEstimate:
    probability: float  # PBO; NaN when it cannot be estimated (fewer than two trials)
    logits: tuple[float, ...]
    splits: int
    blocks: int


def _column_sharpes(returns: FloatArray) -> FloatArray:
    deviation = returns.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpes = returns.mean(axis=0) / deviation
    # A trial that never traded in these rows (no spread) ranks as zero skill, not as undefined.
    return np.where(deviation > 0, sharpes, 0.0)


def _relative_rank(values: FloatArray, index: int) -> float:
    """(average rank of values[index], 1 = smallest) / (N + 1)."""
    chosen = values[index]
    below = float(np.sum(values < chosen))
    ties = float(np.sum(values == chosen)) - 1.0
    return (below + 1.0 + ties / 2.0) / (values.size + 1.0)


def probability_of_backtest_overfitting(returns: FloatArray, blocks: int = 16) -> OverfittingEstimate:
    """PBO of choosing the best of `returns`' columns by Sharpe ratio, over `blocks` CSCV blocks.

    `blocks` is even; it is lowered (keeping it even) until every block has at least two rows.
    """
    if returns.ndim != 2:
        raise ValueError(f"returns must be a (periods, trials) matrix, got shape {returns.shape}")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even number >= 2, got {blocks}")
    periods, trials = returns.shape
    while blocks > 2 and periods // blocks < 2:
        blocks -= 2
    if trials < 2 or periods // blocks < 2:
        return OverfittingEstimate(math.nan, (), 0, blocks)
    clean = np.nan_to_num(returns, nan=0.0)
    bounds = np.linspace(0, periods, blocks + 1).astype(np.int64)
    rows = [np.arange(bounds[i], bounds[i + 1]) for i in range(blocks)]
    logits = []
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        inside = np.concatenate([rows[i] for i in chosen])
        outside = np.concatenate([rows[i] for i in range(blocks) if i not in chosen])
        best = int(np.argmax(_column_sharpes(clean[inside])))
        rank = _relative_rank(_column_sharpes(clean[outside]), best)
        logits.append(math.log(rank / (1.0 - rank)))
    below = sum(1 for logit in logits if logit <= 0.0)
    return OverfittingEstimate(below / len(logits), tuple(logits), len(logits), blocks)
