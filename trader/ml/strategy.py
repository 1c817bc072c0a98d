"""The ML strategy: the model's probability of an up move turned into signals and a strength.

Long when P(up) reaches `entry_probability`, flat when it falls to `exit_probability` or below.
Strength is how far the probability sits beyond 0.5 toward the signal's side, scaled to [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.core.strategies.base import Signals
from trader.core.strategies.catalog import StrategyType, strategy_type_from_dataclass
from trader.core.strategies.ml_features import FEATURE_WARMUP_BARS, compute_features
from trader.core.strategies.series import BarSeries
from trader.ml.model import MlModel

FloatArray = NDArray[np.float64]


def _check_probabilities(entry_probability: float, exit_probability: float) -> None:
    if not 0.0 < exit_probability < entry_probability < 1.0:
        raise ValueError(
            f"need 0 < exit_probability < entry_probability < 1, got {exit_probability}, {entry_probability}"
        )


@dataclass(frozen=True, slots=True, eq=False)
class MlStrategy:
    model: MlModel
    entry_probability: float = 0.55
    exit_probability: float = 0.45

    def __post_init__(self) -> None:
        _check_probabilities(self.entry_probability, self.exit_probability)

    @property
    def name(self) -> str:
        return ML_STRATEGY_TYPE_NAME

    @property
    def lookback_bars(self) -> int:
        return FEATURE_WARMUP_BARS

    def parameters(self) -> Mapping[str, object]:
        return {
            "model_name": self.model.name,
            "model_version": self.model.version,
            "entry_probability": self.entry_probability,
            "exit_probability": self.exit_probability,
        }

    def probabilities(self, bars: BarSeries) -> FloatArray:
        return self.model.probability_up(compute_features(bars).values)

    def generate(self, bars: BarSeries) -> Signals:
        probability = self.probabilities(bars)
        return Signals(
            entries=probability >= self.entry_probability, exits=probability <= self.exit_probability
        )

    def strengths(self, bars: BarSeries) -> FloatArray:
        probability = self.probabilities(bars)
        strength = np.abs(probability - 0.5) * 2.0
        return np.nan_to_num(strength, nan=0.0)


@dataclass(frozen=True, slots=True)
class MlStrategySettings:
    """What a configuration says about the ML strategy; the model itself comes from the registry."""

    model_name: str = "gradient_boosting"
    entry_probability: float = 0.55
    exit_probability: float = 0.45

    def __post_init__(self) -> None:
        if not self.model_name:
            raise ValueError("model_name must not be empty")
        _check_probabilities(self.entry_probability, self.exit_probability)

    @property
    def name(self) -> str:
        return ML_STRATEGY_TYPE_NAME

    @property
    def lookback_bars(self) -> int:
        return FEATURE_WARMUP_BARS

    def with_model(self, model: MlModel) -> MlStrategy:
        return MlStrategy(model, self.entry_probability, self.exit_probability)


ML_STRATEGY_TYPE_NAME = "ml_classifier"


def ml_strategy_type() -> StrategyType:
    return strategy_type_from_dataclass(
        MlStrategySettings,
        name=ML_STRATEGY_TYPE_NAME,
        summary="Gradient-boosted classifier of forward returns (the registry's active model): long when "
        "P(up) >= entry_probability, flat when P(up) <= exit_probability; strength from the probability.",
        docs={
            "model_name": "registry name of the model; its active version is used",
            "entry_probability": "probability of an up move that starts a position",
            "exit_probability": "probability at or below which the position ends",
        },
    )
