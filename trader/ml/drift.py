"""Feature drift as the population stability index (PSI) against the training distribution.

The reference is each feature's decile edges and bin shares in the training data; PSI sums
(current - reference) * ln(current / reference) over the bins. Rule of thumb: below 0.1 stable,
0.1-0.25 moderate shift, above 0.25 a shift worth retraining for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
_FLOOR = 1e-4  # an empty bin would make the log infinite; a small share keeps PSI finite
STABLE_BELOW = 0.1
SHIFTED_ABOVE = 0.25


@dataclass(frozen=True, slots=True)
class FeatureReference:
    edges: tuple[float, ...]  # inner bin edges; bins are (-inf, e0], (e0, e1], ..., (e_last, inf)
    shares: tuple[float, ...]

    def as_dict(self) -> dict[str, list[float]]:
        return {"edges": list(self.edges), "shares": list(self.shares)}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Sequence[float]]) -> FeatureReference:
        return cls(tuple(float(x) for x in payload["edges"]), tuple(float(x) for x in payload["shares"]))


def _shares(values: FloatArray, edges: Sequence[float]) -> FloatArray:
    finite = values[np.isfinite(values)]
    bins = np.searchsorted(np.asarray(edges), finite, side="left")
    counts = np.bincount(bins, minlength=len(edges) + 1).astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts


def build_reference(values: FloatArray, bins: int = 10) -> FeatureReference:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return FeatureReference((), (1.0,))
    quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    edges = tuple(float(edge) for edge in np.unique(quantiles))
    return FeatureReference(edges, tuple(float(share) for share in _shares(finite, edges)))


def population_stability_index(reference: FeatureReference, values: FloatArray) -> float:
    current = _shares(values, reference.edges)
    if current.sum() == 0:
        return float("nan")
    expected = np.maximum(np.asarray(reference.shares), _FLOOR)
    actual = np.maximum(current, _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def feature_drift(
    references: Mapping[str, FeatureReference], names: Sequence[str], values: FloatArray
) -> dict[str, float]:
    """PSI of each named column of `values` (rows are bars) against its reference."""
    return {
        name: population_stability_index(references[name], values[:, column])
        for column, name in enumerate(names)
        if name in references
    }


def drift_level(psi: float) -> str:
    if not np.isfinite(psi):
        return "unknown"
    if psi < STABLE_BELOW:
        return "stable"
    return "moderate" if psi <= SHIFTED_ABOVE else "shifted"
