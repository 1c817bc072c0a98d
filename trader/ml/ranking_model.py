"""A fitted cross-sectional ranking model and how it picks: scores per symbol at a session's close.

The model scores every symbol of the universe that has a bar (past the warm-up) at the panel's
last session; the strategy buys the top `top_fraction` of them (at least one) at the next open
and holds them `horizon` sessions. The horizon is part of the model: it was trained on labels of
that horizon, and its picks are only meant to be held that long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.ml.cross_features import MARKET_FEATURES, WARMUP_SESSIONS, compute_cross_features
from trader.ml.drift import FeatureReference, feature_drift
from trader.ml.estimators import ModelParameters
from trader.ml.evaluation import PortfolioRules
from trader.ml.panel import Panel

FloatArray = NDArray[np.float64]
RANKING_KIND = "cross_sectional"


@dataclass(frozen=True, slots=True, eq=False)
class RankingModel:
    estimator: Any  # a fitted regressor with predict
    feature_names: tuple[str, ...]
    horizon: int
    top_fraction: float
    parameters: ModelParameters
    references: dict[str, FeatureReference] = field(default_factory=dict)
    name: str = "cross_sectional"
    version: int | None = None

    @property
    def rules(self) -> PortfolioRules:
        return PortfolioRules(self.horizon, self.top_fraction)

    def _last_features(self, panel: Panel) -> tuple[FloatArray, NDArray[np.bool_]]:
        cube = compute_cross_features(panel)
        if cube.names != self.feature_names:
            raise ValueError(f"model {self.name} was trained on other features: {self.feature_names}")
        history = np.cumsum(panel.present(), axis=0)[-1]
        ready = panel.present()[-1] & (history >= WARMUP_SESSIONS)
        return cube.values[-1], ready

    def scores(self, panel: Panel) -> FloatArray:
        """One score per panel symbol at the last session; NaN where it has no bar or too little history."""
        values, ready = self._last_features(panel)
        result = np.full(len(panel.symbols), np.nan)
        if ready.any():
            result[ready] = self.estimator.predict(values[ready])
        return result

    def picks(self, panel: Panel) -> list[str]:
        """The symbols to hold from the next open, best first."""
        scores = self.scores(panel)
        ready = np.flatnonzero(np.isfinite(scores))
        if ready.size == 0:
            return []
        order = ready[np.argsort(-scores[ready], kind="stable")]
        return [panel.symbols[i] for i in order[: self.rules.top_count(int(ready.size))]]

    def drift(self, panel: Panel, sessions: int) -> dict[str, float]:
        """PSI of each per-symbol feature over the panel's last `sessions` sessions against the
        training data. The market columns are left out: they hold one value per session from
        overlapping 20-session windows, so a few months of them are a handful of independent
        draws, and their PSI against a year flags ordinary volatility clustering as drift."""
        cube = compute_cross_features(panel)
        recent = cube.values[-sessions:].reshape(-1, len(cube.names))
        symbol_references = {
            name: reference for name, reference in self.references.items() if name not in MARKET_FEATURES
        }
        return feature_drift(symbol_references, cube.names, recent)
