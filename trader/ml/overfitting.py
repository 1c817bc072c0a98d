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
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class OverfittingEstimate:
    probability: float  # PBO; NaN when it cannot be estimated (fewer than two trials)
    logits: tuple[float, ...]
    splits: int
    blocks: int


def _sharpes(sums: FloatArray, squares: FloatArray, counts: FloatArray) -> FloatArray:
    """Sharpe ratio (ddof=1) of each (split, trial) from its sums; 0 where there is no spread."""
    mean = sums / counts
    variance = (squares - sums * mean) / (counts - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpes = mean / np.sqrt(variance)
    # A trial that never traded in these rows (no spread) ranks as zero skill, not as undefined.
    return np.asarray(np.where(variance > 1e-18, sharpes, 0.0), dtype=np.float64)


def _relative_ranks(values: FloatArray, chosen: IntArray) -> FloatArray:
    """Per row: (average rank of values[row, chosen[row]], 1 = smallest) / (N + 1)."""
    picked = values[np.arange(values.shape[0]), chosen][:, None]
    below = (values < picked).sum(axis=1)
    ties = (values == picked).sum(axis=1) - 1
    return np.asarray((below + 1.0 + ties / 2.0) / (values.shape[1] + 1.0), dtype=np.float64)


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
    # Per block and trial: sums, sums of squares and row counts; a split adds up its blocks.
    sums = np.add.reduceat(clean, bounds[:-1], axis=0)
    squares = np.add.reduceat(clean**2, bounds[:-1], axis=0)
    counts = np.diff(bounds).astype(np.float64)[:, None]
    inside = np.zeros((math.comb(blocks, blocks // 2), blocks))
    for row, chosen in enumerate(itertools.combinations(range(blocks), blocks // 2)):
        inside[row, list(chosen)] = 1.0
    outside = 1.0 - inside
    in_sample = _sharpes(inside @ sums, inside @ squares, inside @ counts)
    out_of_sample = _sharpes(outside @ sums, outside @ squares, outside @ counts)
    ranks = _relative_ranks(out_of_sample, np.argmax(in_sample, axis=1))
    logits = np.log(ranks / (1.0 - ranks))
    below = int(np.sum(logits <= 0.0))
    return OverfittingEstimate(below / logits.size, tuple(float(x) for x in logits), int(logits.size), blocks)
