"""The ranking pipeline's configuration from the typed settings, built in one place for the CLI,
the strategy engine's training job and the model desk."""

from __future__ import annotations

from trader.core.fills import FillModel
from trader.ml.estimators import EstimatorKind, ModelParameters
from trader.ml.gate import GateThresholds
from trader.ml.ranking_training import RankingConfig
from trader.settings import Settings


def fill_model_from(settings: Settings) -> FillModel:
    """The costs the labels pay: the simulated broker's, which the backtester shares."""
    return settings.fill_model()


def ranking_config_from(
    settings: Settings, *, horizon: int | None = None, trials: int | None = None, estimator: str | None = None
) -> RankingConfig:
    return RankingConfig(
        horizon=horizon or settings.model_horizon_sessions,
        top_fraction=settings.model_top_fraction,
        parameters=ModelParameters(estimator=EstimatorKind(estimator or settings.model_estimator)),
        trials=trials or settings.model_search_trials,
        groups=settings.model_cv_groups,
        test_groups=settings.model_cv_test_groups,
        embargo_sessions=settings.model_cv_embargo_sessions,
        seed=settings.model_seed,
        fill_model=fill_model_from(settings),
        notional=settings.model_label_notional,
    )


def gate_thresholds_from(settings: Settings) -> GateThresholds:
    return GateThresholds(
        min_dsr=settings.model_gate_min_dsr,
        max_pbo=settings.model_gate_max_pbo,
        beat_buy_and_hold=settings.model_gate_beat_buy_and_hold,
        min_improvement=settings.model_gate_min_improvement,
    )
