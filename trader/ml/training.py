"""Purged walk-forward training of a gradient-boosting classifier, with out-of-sample metrics.

Samples are (symbol, bar t) with features up to t and a label from the close at t+horizon.
The samples are cut by time into `folds + 1` blocks; fold k trains on everything before block k
and tests on block k. Purging: a training sample whose label reaches into the test block
(label end time >= test start) is dropped, so the test never grades a model on returns it was
fitted to. The out-of-sample predictions of all folds make the metrics; the model that is kept
is then fitted on every labelled sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

from trader.core.strategies.ml_features import FEATURE_WARMUP_BARS, compute_features
from trader.core.strategies.series import BarSeries, from_epoch_nanoseconds
from trader.ml.drift import build_reference
from trader.ml.labels import forward_returns
from trader.ml.model import MlModel

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    horizon: int = 5
    label_threshold: float = 0.0
    folds: int = 4
    max_iterations: int = 100
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    entry_probability: float = 0.55  # for the out-of-sample trading figures
    seed: int = 0
    skip_warmup: bool = True

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.folds < 1:
            raise ValueError("horizon and folds must be >= 1")


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    features: FloatArray
    labels: FloatArray
    forward_returns: FloatArray
    bar_at_ns: IntArray
    label_end_ns: IntArray
    feature_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fold:
    train: IntArray
    test: IntArray
    purged: int


@dataclass(frozen=True, slots=True, eq=False)
class TrainingResult:
    model: MlModel
    training_start: datetime
    training_end: datetime
    metrics: dict[str, float]
    fold_metrics: list[dict[str, float]] = field(default_factory=list)


def build_dataset(series_list: Sequence[BarSeries], config: TrainingConfig) -> Dataset:
    blocks: list[tuple[FloatArray, FloatArray, FloatArray, IntArray, IntArray]] = []
    names: tuple[str, ...] = ()
    for series in series_list:
        matrix = compute_features(series)
        names = matrix.names
        future = forward_returns(series.close, config.horizon)
        labels = np.where(future > config.label_threshold, 1.0, 0.0)
        size = len(series)
        end_ns = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
        if size > config.horizon:
            end_ns[: -config.horizon] = series.timestamps_ns[config.horizon :]
        keep = ~np.isnan(future)
        if config.skip_warmup:
            keep[: min(FEATURE_WARMUP_BARS, size)] = False
        blocks.append(
            (matrix.values[keep], labels[keep], future[keep], series.timestamps_ns[keep], end_ns[keep])
        )
    if not blocks or sum(block[0].shape[0] for block in blocks) == 0:
        raise ValueError(
            f"no labelled samples: each series needs more than {FEATURE_WARMUP_BARS} + horizon bars"
        )
    features, labels, future, bar_at, end = (np.concatenate(parts) for parts in zip(*blocks, strict=True))
    order = np.argsort(bar_at, kind="stable")
    return Dataset(
        features[order], labels[order], future[order], bar_at[order], end[order].astype(np.int64), names
    )


def purged_walk_forward(bar_at_ns: IntArray, label_end_ns: IntArray, folds: int) -> list[Fold]:
    """Expanding-window folds over time-sorted samples, with label-overlap purging."""
    size = bar_at_ns.size
    bounds = np.linspace(0, size, folds + 2).astype(np.int64)
    result = []
    for k in range(1, folds + 1):
        start, stop = int(bounds[k]), int(bounds[k + 1])
        if start == 0 or stop <= start:
            continue
        test_start_ns = bar_at_ns[start]
        before = np.arange(start)
        clean = label_end_ns[before] < test_start_ns
        # Samples sharing the test's first timestamp (other symbols) belong to the test, not training.
        clean &= bar_at_ns[before] < test_start_ns
        result.append(Fold(train=before[clean], test=np.arange(start, stop), purged=int((~clean).sum())))
    return result


def _classifier(config: TrainingConfig) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=config.max_iterations,
        learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf,
        random_state=config.seed,
    )


def score_predictions(
    probabilities: FloatArray, labels: FloatArray, future: FloatArray, entry_probability: float
) -> dict[str, float]:
    """Classification and trading figures of out-of-sample predictions."""
    metrics: dict[str, float] = {"samples": float(labels.size), "base_rate": float(labels.mean())}
    both = np.unique(labels).size == 2
    metrics["auc"] = float(roc_auc_score(labels, probabilities)) if both else math.nan
    metrics["accuracy"] = float(accuracy_score(labels, probabilities >= 0.5))
    metrics["log_loss"] = float(log_loss(labels, np.clip(probabilities, 1e-6, 1 - 1e-6), labels=[0.0, 1.0]))
    metrics["brier"] = float(brier_score_loss(labels, probabilities))
    chosen = probabilities >= entry_probability
    metrics["signal_share"] = float(chosen.mean())
    metrics["signal_mean_return"] = float(future[chosen].mean()) if chosen.any() else math.nan
    metrics["mean_return"] = float(future.mean())
    metrics["signal_edge"] = (
        metrics["signal_mean_return"] - metrics["mean_return"] if chosen.any() else math.nan
    )
    return metrics


def train_model(
    series_list: Sequence[BarSeries], config: TrainingConfig | None = None, *, name: str = "gradient_boosting"
) -> TrainingResult:
    config = config or TrainingConfig()
    data = build_dataset(series_list, config)
    folds = purged_walk_forward(data.bar_at_ns, data.label_end_ns, config.folds)
    oos_probabilities: list[FloatArray] = []
    oos_index: list[IntArray] = []
    fold_metrics = []
    for fold in folds:
        train_labels = data.labels[fold.train]
        if fold.train.size < 2 * config.min_samples_leaf or np.unique(train_labels).size < 2:
            continue
        classifier = _classifier(config).fit(data.features[fold.train], train_labels)
        classes = list(classifier.classes_)
        probabilities = classifier.predict_proba(data.features[fold.test])[:, classes.index(1.0)]
        oos_probabilities.append(probabilities)
        oos_index.append(fold.test)
        scored = score_predictions(
            probabilities, data.labels[fold.test], data.forward_returns[fold.test], config.entry_probability
        )
        fold_metrics.append({**scored, "train_samples": float(fold.train.size), "purged": float(fold.purged)})
    if not oos_probabilities:
        raise ValueError("too few samples for a single walk-forward fold; give more bars")
    index = np.concatenate(oos_index)
    metrics = score_predictions(
        np.concatenate(oos_probabilities),
        data.labels[index],
        data.forward_returns[index],
        config.entry_probability,
    )
    metrics["folds"] = float(len(fold_metrics))
    final = _classifier(config).fit(data.features, data.labels)
    references = {
        name_: build_reference(data.features[:, column]) for column, name_ in enumerate(data.feature_names)
    }
    model = MlModel(
        estimator=final,
        feature_names=data.feature_names,
        horizon=config.horizon,
        label_threshold=config.label_threshold,
        references=references,
        name=name,
    )
    return TrainingResult(
        model=model,
        training_start=from_epoch_nanoseconds(int(data.bar_at_ns[0])),
        training_end=from_epoch_nanoseconds(int(data.bar_at_ns[-1])),
        metrics=metrics,
        fold_metrics=fold_metrics,
    )
