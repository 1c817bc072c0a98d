"""Rank information coefficient: per session, the Spearman correlation of scores and outcomes.

A cross-sectional model is judged per session on whether it ordered the universe the way the
(net) returns did; the mean IC, its spread, and their ratio (the IC information ratio) say how
reliably. Ties share the average rank, so the figure equals scipy.stats.spearmanr per session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def average_ranks(values: FloatArray) -> FloatArray:
    """Ranks 1..n with ties sharing their average rank."""
    from scipy.stats import rankdata  # seconds to import: only when a model is trained

    return np.asarray(rankdata(values, method="average"), dtype=np.float64)


def rank_correlation(scores: FloatArray, outcomes: FloatArray) -> float:
    """Spearman's rho of the finite pairs; NaN with fewer than three or no spread."""
    usable = np.isfinite(scores) & np.isfinite(outcomes)
    if usable.sum() < 3:
        return math.nan
    left, right = average_ranks(scores[usable]), average_ranks(outcomes[usable])
    left -= left.mean()
    right -= right.mean()
    denominator = math.sqrt(float(np.sum(left**2)) * float(np.sum(right**2)))
    return float(np.sum(left * right)) / denominator if denominator > 0 else math.nan


def _session_matrix(sessions: IntArray, values: FloatArray, order: IntArray, row: IntArray) -> FloatArray:
    """Values laid out one session a row (NaN-padded), in `order`."""
    counts = np.bincount(row)
    column = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)
    matrix = np.full((counts.size, int(counts.max()) if counts.size else 0), np.nan)
    matrix[row, column] = values[order]
    return matrix


def rank_ic_by_session(sessions: IntArray, scores: FloatArray, outcomes: FloatArray) -> FloatArray:
    """One IC per distinct session in `sessions` (ascending order of session), computed for all
    sessions at once: average ranks per row of a session-by-sample matrix, then Pearson per row."""
    if sessions.size == 0:
        return np.empty(0)
    from scipy.stats import rankdata  # seconds to import: only when a model is trained

    order = np.argsort(sessions, kind="stable")
    _, row = np.unique(sessions[order], return_inverse=True)
    left = _session_matrix(sessions, scores, order, row)
    right = _session_matrix(sessions, outcomes, order, row)
    usable = np.isfinite(left) & np.isfinite(right)
    left[~usable] = np.nan
    right[~usable] = np.nan
    left_ranks = rankdata(left, axis=1, nan_policy="omit")
    right_ranks = rankdata(right, axis=1, nan_policy="omit")
    counts = usable.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Average ranks 1..n have mean (n + 1) / 2 in every row.
        middle = ((counts + 1) / 2.0)[:, None]
        left_centred = np.where(usable, left_ranks - middle, 0.0)
        right_centred = np.where(usable, right_ranks - middle, 0.0)
        numerator = (left_centred * right_centred).sum(axis=1)
        denominator = np.sqrt((left_centred**2).sum(axis=1) * (right_centred**2).sum(axis=1))
        result = numerator / denominator
    result[(counts < 3) | ~(denominator > 0)] = np.nan
    return np.asarray(result, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class InformationSummary:
    mean: float
    deviation: float
    information_ratio: float
    sessions: int
    positive_share: float


def summarize_ic(values: FloatArray) -> InformationSummary:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return InformationSummary(math.nan, math.nan, math.nan, 0, math.nan)
    mean = float(finite.mean())
    deviation = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    ratio = mean / deviation if deviation and math.isfinite(deviation) and deviation > 0 else math.nan
    return InformationSummary(mean, deviation, ratio, int(finite.size), float((finite > 0).mean()))
