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
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    ranks = np.empty(values.size, dtype=np.float64)
    start = 0
    while start < values.size:
        stop = start + 1
        while stop < values.size and ordered[stop] == ordered[start]:
            stop += 1
        ranks[order[start:stop]] = (start + stop + 1) / 2.0
        start = stop
    return ranks


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


def rank_ic_by_session(sessions: IntArray, scores: FloatArray, outcomes: FloatArray) -> FloatArray:
    """One IC per distinct session in `sessions` (ascending order of session)."""
    order = np.argsort(sessions, kind="stable")
    sorted_sessions = sessions[order]
    cuts = np.flatnonzero(np.diff(sorted_sessions)) + 1
    return np.array(
        [
            rank_correlation(scores[part], outcomes[part])
            for part in np.split(order, cuts)
            if part.size
        ],
        dtype=np.float64,
    )


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
