"""A trained model and everything needed to use it: features, horizon, thresholds, drift references."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.ml.drift import FeatureReference

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class MlModel:
    estimator: Any  # a fitted scikit-learn classifier with predict_proba
    feature_names: tuple[str, ...]
    horizon: int
    label_threshold: float
    references: dict[str, FeatureReference] = field(default_factory=dict)
    name: str = "gradient_boosting"
    version: int | None = None

    def probability_up(self, features: FloatArray) -> FloatArray:
        """P(label = 1) per row; NaN for rows the model cannot score (all features unknown)."""
        probabilities = np.full(features.shape[0], np.nan)
        usable = ~np.all(np.isnan(features), axis=1)
        if usable.any():
            classes = list(self.estimator.classes_)
            predicted = self.estimator.predict_proba(features[usable])
            probabilities[usable] = predicted[:, classes.index(1.0)] if 1.0 in classes else 0.0
        return probabilities
