"""ML strategy: causal features, purged walk-forward, promotion rule, artifacts, drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trader.backtest.synthetic import gbm_bars
from trader.core.lookahead import check_lookahead
from trader.core.strategies import BarSeries, evaluate_latest
from trader.core.strategies.ml_features import FEATURE_NAMES, compute_features
from trader.core.strategies.strength import latest_strength
from trader.ml.artifacts import ArtifactIntegrityError, load_model, save_model
from trader.ml.drift import build_reference, drift_level, feature_drift, population_stability_index
from trader.ml.labels import forward_returns, up_labels
from trader.ml.registry import decide_promotion
from trader.ml.strategy import MlStrategy
from trader.ml.training import TrainingConfig, TrainingResult, purged_walk_forward, train_model

DAY_NS = 86_400 * 10**9


def autocorrelated_bars(size: int, seed: int, persistence: float) -> BarSeries:
    """Daily bars whose returns carry over (AR(1)): a model that learns momentum can beat chance."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.01, size)
    returns = np.empty(size)
    returns[0] = shocks[0]
    for t in range(1, size):
        returns[t] = persistence * returns[t - 1] + shocks[t]
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    volume = rng.integers(1_000, 5_000, size).astype(np.float64)
    timestamps = np.arange(size, dtype=np.int64) * DAY_NS + 18_000 * DAY_NS
    return BarSeries.from_arrays("ARX", timestamps, open_, high, low, close, volume)


@pytest.fixture(scope="module")
def trained() -> TrainingResult:
    return train_model([autocorrelated_bars(2_000, seed=1, persistence=0.3)], TrainingConfig(horizon=1))


def test_features_use_only_data_up_to_t() -> None:
    bars = gbm_bars(700, seed=3, volatility=0.01, bar_seconds=86_400)
    full = compute_features(bars).values
    assert full.shape == (700, len(FEATURE_NAMES))
    for cut in (30, 120, 333, 650):
        # Truncated history: the rows up to the cut are identical.
        truncated = compute_features(bars.head(cut)).values
        np.testing.assert_array_equal(truncated, full[:cut])
        # Altered future: every bar after the cut changed, rows up to the cut unchanged.
        factor = np.ones(700)
        factor[cut:] = 1.7
        altered = BarSeries(
            bars.symbol,
            bars.timestamps_ns,
            bars.open * factor,
            bars.high * factor,
            bars.low * factor,
            bars.close * factor,
            bars.volume * factor**2,
        )
        np.testing.assert_array_equal(compute_features(altered).values[:cut], full[:cut])
    assert np.isfinite(full[-1]).all()


def test_labels_look_forward_and_end_in_unknowns() -> None:
    close = np.array([10.0, 11.0, 10.5, 12.0, 12.0])
    np.testing.assert_allclose(forward_returns(close, 2)[:3], np.log([10.5 / 10, 12 / 11, 12 / 10.5]))
    labels = up_labels(close, 1)
    assert labels[:4].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert np.isnan(labels[4])


def test_walk_forward_purges_training_labels_that_reach_into_the_test_block() -> None:
    bar_at = np.arange(100, dtype=np.int64)
    horizon = 5
    folds = purged_walk_forward(bar_at, bar_at + horizon, folds=3)
    assert len(folds) == 3
    for fold in folds:
        test_start = int(bar_at[fold.test[0]])
        assert (bar_at[fold.train] + horizon < test_start).all()
        assert fold.purged == horizon
        assert fold.train.max() < fold.test.min()


def test_training_on_predictable_data_beats_chance_out_of_sample(trained: TrainingResult) -> None:
    assert trained.metrics["folds"] >= 3
    assert trained.metrics["auc"] > 0.56, trained.metrics
    noise = train_model(
        [gbm_bars(2_000, seed=5, volatility=0.01, bar_seconds=86_400)], TrainingConfig(horizon=1)
    )
    assert abs(noise.metrics["auc"] - 0.5) < 0.05, noise.metrics
    assert decide_promotion(trained.metrics, noise.metrics).promote
    assert not decide_promotion(noise.metrics, trained.metrics).promote


def test_promotion_rule() -> None:
    assert decide_promotion({"auc": 0.58}, None).promote
    assert not decide_promotion({"auc": 0.49}, None).promote
    assert not decide_promotion({"auc": 0.58}, {"auc": 0.58}).promote
    assert decide_promotion({"auc": 0.59}, {"auc": 0.58}).promote
    assert not decide_promotion({"auc": 0.59}, {"auc": 0.58}, min_improvement=0.02).promote
    assert decide_promotion({"log_loss": 0.6}, {"log_loss": 0.7}, metric="log_loss").promote
    assert not decide_promotion({"auc": float("nan")}, None).promote
    with pytest.raises(ValueError, match="unknown promotion metric"):
        decide_promotion({"auc": 0.6}, None, metric="sharpe")


def test_ml_strategy_has_no_lookahead_and_matches_live(trained: TrainingResult) -> None:
    strategy = MlStrategy(trained.model, entry_probability=0.52, exit_probability=0.48)
    bars = autocorrelated_bars(900, seed=8, persistence=0.3)
    report = check_lookahead(strategy, bars, lengths=[320, 321, 500, 777, 899])
    assert report.passed, report.violations[:3]
    full = strategy.generate(bars)
    assert full.entries.sum() > 10 and full.exits.sum() > 10
    strengths = strategy.strengths(bars)
    for index in (400, 650, 899):
        window = bars.head(index + 1)
        assert evaluate_latest(strategy, window).direction is full.direction_at(index)
        assert latest_strength(strategy, window) == pytest.approx(strengths[index], abs=1e-9)
        assert 0.0 <= strengths[index] <= 1.0


def test_artifacts_round_trip_and_refuse_a_changed_file(trained: TrainingResult, tmp_path: Path) -> None:
    path = tmp_path / "models" / "gb" / "v0001.joblib"
    digest = save_model(trained.model, path)
    loaded = load_model(path, digest)
    features = compute_features(autocorrelated_bars(400, seed=2, persistence=0.3)).values
    np.testing.assert_array_equal(loaded.probability_up(features), trained.model.probability_up(features))
    assert loaded.references.keys() == trained.model.references.keys()
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ArtifactIntegrityError, match="refusing"):
        load_model(path, digest)


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = build_reference(rng.normal(0, 1, 5_000))
    same = population_stability_index(reference, rng.normal(0, 1, 2_000))
    shifted = population_stability_index(reference, rng.normal(1.0, 1, 2_000))
    assert same < 0.1 and drift_level(same) == "stable"
    assert shifted > 0.25 and drift_level(shifted) == "shifted"
    values = np.column_stack([rng.normal(0, 1, 500), rng.normal(3, 1, 500)])
    drift = feature_drift({"a": reference, "b": reference}, ["a", "b"], values)
    assert drift["a"] < 0.1 < drift["b"]
