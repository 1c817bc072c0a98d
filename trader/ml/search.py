"""Hyperparameter search with Optuna, every trial kept so the validation can count it.

The first trial is always the shipped parameters; the rest come from a seeded TPE sampler. Each
trial is a full CPCV evaluation (`evaluate_trial`), and all of them go back to the caller: the
deflated Sharpe ratio is deflated by every trial run, and PBO is measured across them, so a search
that tries many configurations on noise pays for its luck.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

from trader.ml.cross_dataset import CrossSectionalDataset
from trader.ml.estimators import ModelParameters

if TYPE_CHECKING:
    import optuna

from trader.ml.evaluation import (
    CrossValidation,
    PortfolioRules,
    TrialCallback,
    TrialEvaluation,
    evaluate_trial,
)


def _suggest(trial: optuna.Trial, base: ModelParameters) -> ModelParameters:
    # The ranges always hold the shipped parameters, so the first (enqueued) trial is one of them.
    return dataclasses.replace(
        base,
        trees=trial.suggest_int("trees", min(20, base.trees), max(300, base.trees)),
        learning_rate=trial.suggest_float(
            "learning_rate", min(0.01, base.learning_rate), max(0.2, base.learning_rate), log=True
        ),
        leaves=trial.suggest_int("leaves", min(4, base.leaves), max(63, base.leaves), log=True),
        min_leaf_samples=trial.suggest_int(
            "min_leaf_samples", min(10, base.min_leaf_samples), max(400, base.min_leaf_samples), log=True
        ),
        feature_fraction=trial.suggest_float("feature_fraction", min(0.5, base.feature_fraction), 1.0),
    )


def search_parameters(
    dataset: CrossSectionalDataset,
    validation: CrossValidation,
    rules: PortfolioRules,
    base: ModelParameters,
    *,
    trials: int,
    seed: int,
    on_trial: TrialCallback | None = None,
) -> list[TrialEvaluation]:
    """`trials` evaluations, the first with `base`; in the order they ran."""
    if trials < 1:
        raise ValueError(f"a search needs at least one trial, got {trials}")
    import optuna  # imported when a search runs, not when a service that can start one starts

    logging.getLogger("optuna").setLevel(logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(
        {
            "trees": base.trees,
            "learning_rate": base.learning_rate,
            "leaves": base.leaves,
            "min_leaf_samples": base.min_leaf_samples,
            "feature_fraction": base.feature_fraction,
        },
        skip_if_exists=True,
    )
    evaluations: list[TrialEvaluation] = []

    def objective(trial: optuna.Trial) -> float:
        evaluation = evaluate_trial(dataset, validation, _suggest(trial, base), rules, seed)
        evaluations.append(evaluation)
        if on_trial is not None:
            on_trial(len(evaluations), evaluation)
        return evaluation.score if math.isfinite(evaluation.score) else -1e9

    study.optimize(objective, n_trials=trials, catch=())
    return evaluations


def best_trial(evaluations: list[TrialEvaluation]) -> int:
    """Index of the trial with the highest score (the first of equals)."""
    scores = [evaluation.score for evaluation in evaluations]
    return max(range(len(scores)), key=lambda index: (scores[index], -index))
