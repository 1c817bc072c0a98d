"""The regressors a cross-sectional model can use: LightGBM, or scikit-learn's histogram boosting.

One parameter set describes both (trees, learning rate, leaves, the fewest samples a leaf may
hold, the share of features each tree sees), so a search and a model card speak of either the
same way. Both run on one thread: validation fits dozens of models, and a service shares the
machine; the seed makes a fit repeatable.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class EstimatorKind(enum.StrEnum):
    LIGHTGBM = "lightgbm"
    SKLEARN = "sklearn"


@dataclass(frozen=True, slots=True)
class ModelParameters:
    estimator: EstimatorKind = EstimatorKind.LIGHTGBM
    trees: int = 100
    learning_rate: float = 0.05
    leaves: int = 15
    min_leaf_samples: int = 50
    feature_fraction: float = 0.8  # LightGBM only; scikit-learn's trees see every feature

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimator", EstimatorKind(self.estimator))
        if self.trees < 1 or self.leaves < 2 or self.min_leaf_samples < 1:
            raise ValueError("need trees >= 1, leaves >= 2 and min_leaf_samples >= 1")
        if not 0 < self.learning_rate <= 1 or not 0 < self.feature_fraction <= 1:
            raise ValueError("learning_rate and feature_fraction must be in (0, 1]")

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "estimator": self.estimator.value}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> ModelParameters:
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in payload.items() if key in known})


def build_regressor(parameters: ModelParameters, seed: int) -> Any:
    if parameters.estimator is EstimatorKind.LIGHTGBM:
        from lightgbm import LGBMRegressor

        return LGBMRegressor(
            n_estimators=parameters.trees,
            learning_rate=parameters.learning_rate,
            num_leaves=parameters.leaves,
            min_child_samples=parameters.min_leaf_samples,
            colsample_bytree=parameters.feature_fraction,
            random_state=seed,
            n_jobs=1,
            deterministic=True,
            force_row_wise=True,
            max_bin=63,  # half the fitting time of 255 bins; rank-like features need no finer grid
            verbose=-1,
        )
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        max_iter=parameters.trees,
        learning_rate=parameters.learning_rate,
        max_leaf_nodes=parameters.leaves,
        min_samples_leaf=parameters.min_leaf_samples,
        random_state=seed,
    )
