"""The gate on seeded synthetic universes: a planted edge that survives costs passes; a random walk
is refused; a many-trial search on noise is refused even though its best trial looks significant
on its own. All figures are net of the default fill model's costs and in excess of buy-and-hold."""

from __future__ import annotations

import pytest

from tests.unit.ml.synthetic_universe import synthetic_universe
from trader.core.fills import FillModel, Slippage
from trader.ml.estimators import ModelParameters
from trader.ml.gate import GateThresholds, decide_gate
from trader.ml.ranking_training import RankingConfig, RankingResult, train_ranking_model

SMALL_TREES = ModelParameters(trees=30, min_leaf_samples=40)
COSTS = FillModel(slippage=Slippage(5))  # 5 bps each way, as costs-retention's default


def _train(
    *, reversal: float, trials: int, seed: int, symbols: int = 24, sessions: int = 300
) -> RankingResult:
    panel = synthetic_universe(symbols=symbols, sessions=sessions, reversal=reversal, seed=seed, drift=0.0)
    config = RankingConfig(trials=trials, groups=4, parameters=SMALL_TREES, fill_model=COSTS)
    return train_ranking_model(panel, config, name="synthetic")


@pytest.mark.timeout(120)
def test_a_planted_edge_that_survives_costs_passes_the_gate() -> None:
    result = _train(reversal=-0.6, trials=3, seed=1)
    figures = result.card["figures"]
    decision = decide_gate(result.figures, GateThresholds())
    assert decision.passed, decision.reason
    assert figures["deflated_sharpe"] >= 0.95
    assert figures["pbo"] <= 0.5
    assert figures["ic_mean"] > 0.1
    assert figures["mean_period_return"] > figures["buy_and_hold_mean_period_return"]
    assert result.card["costs"]["round_trip_cost"] < 0  # the labels paid for their trades


@pytest.mark.timeout(120)
def test_a_random_walk_is_refused_with_a_low_dsr_and_a_high_pbo() -> None:
    # PBO of a search on noise is about one half on average (0.23, 0.58 and 0.54 for seeds 1-3
    # with 8 trials); the DSR is what refuses a random walk reliably. Seed 2 shows both.
    result = _train(reversal=0.0, trials=8, seed=2)
    figures = result.card["figures"]
    decision = decide_gate(result.figures, GateThresholds())
    assert not decision.passed
    assert figures["deflated_sharpe"] < 0.5
    assert figures["pbo"] > 0.5
    assert {check.name for check in decision.checks if not check.passed} >= {"deflated_sharpe", "pbo"}


@pytest.mark.timeout(180)
def test_a_many_trial_search_on_noise_is_refused_though_its_best_trial_looks_good() -> None:
    result = _train(reversal=0.0, trials=24, seed=4, symbols=16, sessions=250)
    figures = result.card["figures"]
    assert result.card["search"]["trials"] == 24
    # Taken alone, the selected trial's excess returns look good (PSR 0.94 for seed 4; 0.90 and
    # 0.90 for seeds 2 and 3, whose DSRs are 0.52)...
    assert figures["probabilistic_sharpe"] > 0.9
    # ...but deflated by the 24 trials that found it, they do not.
    assert figures["deflated_sharpe"] < 0.6
    decision = decide_gate(result.figures, GateThresholds())
    assert not decision.passed
    assert "DSR" in decision.reason
