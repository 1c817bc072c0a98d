"""Train a cross-sectional ranking model and measure it the way the gate needs.

panel -> executable net labels and point-in-time features -> CPCV (purged, embargoed) -> an
Optuna search whose every trial is a full CPCV evaluation -> the selected trial's figures: path
Sharpe ratios, deflated Sharpe ratio over every trial, PBO across the trials, rank IC per
session, all net of costs and beside buy-and-hold -> the model refitted on every sample, with its
card (the figures, the data span, the features, the costs) and its drift references.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.backtest.engine import StopRules
from trader.core.fills import FillModel
from trader.ml.cross_dataset import CrossSectionalDataset, build_cross_dataset
from trader.ml.cross_features import WARMUP_SESSIONS
from trader.ml.drift import build_reference
from trader.ml.estimators import ModelParameters, build_regressor
from trader.ml.evaluation import (
    CrossValidation,
    PortfolioRules,
    TrialEvaluation,
    evaluate_trial,
    prepare_validation,
)
from trader.ml.gate import GateFigures
from trader.ml.labels import TradeRules
from trader.ml.panel import Panel
from trader.ml.ranking_figures import training_card, validation_figures
from trader.ml.ranking_model import RankingModel
from trader.ml.search import best_trial, search_parameters

FloatArray = NDArray[np.float64]
MIN_SYMBOLS = 3


class InsufficientDataError(ValueError):
    """Too few sessions or symbols to train and validate; the message says how many are needed."""


@dataclass(frozen=True, slots=True)
class RankingConfig:
    horizon: int = 5
    top_fraction: float = 0.1
    parameters: ModelParameters = field(default_factory=ModelParameters)
    trials: int = 8
    groups: int = 6
    test_groups: int = 2
    embargo_sessions: int = 5
    seed: int = 0
    fill_model: FillModel = field(default_factory=FillModel)
    stops: StopRules = field(default_factory=StopRules)
    notional: float = 10_000.0

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.trials < 1:
            raise ValueError("horizon and trials must be >= 1")

    @property
    def rules(self) -> PortfolioRules:
        return PortfolioRules(self.horizon, self.top_fraction)

    @property
    def trade_rules(self) -> TradeRules:
        return TradeRules(self.horizon, self.fill_model, self.stops, self.notional)

    def min_labelled_sessions(self) -> int:
        """Each CPCV group needs a few rebalances of its own."""
        return self.groups * max(2 * self.horizon, 10)

    def min_sessions(self) -> int:
        return WARMUP_SESSIONS + self.horizon + 1 + self.min_labelled_sessions()


@dataclass(frozen=True, slots=True, eq=False)
class RankingResult:
    model: RankingModel
    card: dict[str, Any]
    figures: GateFigures
    trials: list[TrialEvaluation]
    selected: int


def check_enough_data(panel: Panel, config: RankingConfig) -> None:
    sessions, symbols = panel.shape
    if symbols < MIN_SYMBOLS:
        raise InsufficientDataError(
            f"a cross-sectional model ranks symbols against each other: it needs at least {MIN_SYMBOLS} "
            f"symbols, got {symbols}"
        )
    needed = config.min_sessions()
    if sessions < needed:
        raise InsufficientDataError(
            f"training needs at least {needed} sessions ({WARMUP_SESSIONS} of feature warm-up, "
            f"{config.horizon + 1} for the horizon and its exit, and {config.min_labelled_sessions()} "
            f"labelled sessions for {config.groups} CPCV groups); the data has {sessions}"
        )


def _evaluate_dataset(panel: Panel, config: RankingConfig) -> tuple[CrossSectionalDataset, CrossValidation]:
    check_enough_data(panel, config)
    dataset = build_cross_dataset(panel, config.trade_rules)
    if dataset.labelled_sessions() < config.min_labelled_sessions():
        raise InsufficientDataError(
            f"only {dataset.labelled_sessions()} sessions have {MIN_SYMBOLS}+ symbols past the "
            f"{WARMUP_SESSIONS}-session warm-up with a complete trade; training needs "
            f"{config.min_labelled_sessions()}"
        )
    validation = prepare_validation(
        dataset, config.groups, config.test_groups, config.embargo_sessions, config.horizon
    )
    return dataset, validation


def train_ranking_model(
    panel: Panel,
    config: RankingConfig,
    *,
    name: str,
    champion_parameters: ModelParameters | None = None,
    progress: Callable[[str], None] | None = None,
) -> RankingResult:
    dataset, validation = _evaluate_dataset(panel, config)

    def said(number: int, trial: TrialEvaluation) -> None:
        if progress is not None:
            progress(f"trial {number}/{config.trials}: mean path Sharpe {trial.score:.3f}")

    trials = search_parameters(
        dataset,
        validation,
        config.rules,
        config.parameters,
        trials=config.trials,
        seed=config.seed,
        on_trial=said,
    )
    selected = best_trial(trials)
    chosen = trials[selected]
    champion = (
        evaluate_trial(dataset, validation, champion_parameters, config.rules, config.seed)
        if champion_parameters is not None
        else None
    )
    figures, numbers = validation_figures(validation, config, trials, selected, champion)
    estimator = build_regressor(chosen.parameters, config.seed).fit(dataset.features, dataset.target)
    references = {
        feature: build_reference(dataset.features[:, column])
        for column, feature in enumerate(dataset.feature_names)
    }
    model = RankingModel(
        estimator=estimator,
        feature_names=dataset.feature_names,
        horizon=config.horizon,
        top_fraction=config.top_fraction,
        parameters=chosen.parameters,
        references=references,
        name=name,
    )
    card = training_card(panel, dataset, validation, config, trials, selected, numbers)
    return RankingResult(model, card, figures, trials, selected)
