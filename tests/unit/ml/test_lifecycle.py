"""Shadow and rollback rules against the backtest's band, and the gate's named checks."""

from __future__ import annotations

import math

import pytest

from trader.ml.gate import GateFigures, GateThresholds, decide_gate
from trader.ml.lifecycle import Band, Verdict, judge_champion, judge_shadow

BAND = Band(mean=0.01, deviation=0.02, z=2.0)  # over 4 periods: 0.01 +- 0.02 -> floor -0.01


def test_the_band_narrows_with_more_periods() -> None:
    assert BAND.bounds(4) == pytest.approx((-0.01, 0.03))
    assert BAND.bounds(16) == pytest.approx((0.0, 0.02))
    assert Band.from_card({"figures": {"mean_excess_return": 0.01, "excess_return_std": 0.02}}, 2.0) == BAND
    with pytest.raises(ValueError, match="no backtest band"):
        Band.from_card({}, 2.0)


def test_a_shadow_waits_then_is_promoted_inside_the_band_or_refused_below_it() -> None:
    assert judge_shadow([0.02, 0.0], BAND, 4).verdict is Verdict.WAIT
    promoted = judge_shadow([0.02, 0.0, -0.005, 0.01], BAND, 4)
    assert promoted.verdict is Verdict.PROMOTE and promoted.figures["band_low"] == pytest.approx(-0.01)
    # Doing better than the backtest promised is not a reason to refuse.
    assert judge_shadow([0.2, 0.3, 0.1, 0.2], BAND, 4).verdict is Verdict.PROMOTE
    refused = judge_shadow([-0.02, -0.01, -0.03, 0.0], BAND, 4)
    assert refused.verdict is Verdict.REFUSE and "below the backtest band" in refused.reason


def test_a_champion_is_rolled_back_on_leaving_the_band_or_on_drift() -> None:
    assert judge_champion([0.01, 0.0, 0.02, -0.01], BAND, 4, {}, 0.25).verdict is Verdict.KEEP
    left = judge_champion([0.05, -0.02, -0.03, -0.02, -0.01], BAND, 4, {}, 0.25)
    assert left.verdict is Verdict.ROLL_BACK and "left the backtest band" in left.reason
    drifted = judge_champion([], BAND, 4, {"momentum_5": 0.1, "volatility_20": 0.4, "x": math.nan}, 0.25)
    assert drifted.verdict is Verdict.ROLL_BACK and "volatility_20 is 0.400" in drifted.reason
    assert judge_champion([0.0], BAND, 4, {"momentum_5": 0.2}, 0.25).verdict is Verdict.KEEP


def test_the_gate_names_each_check_and_refuses_what_it_cannot_measure() -> None:
    good = GateFigures(
        deflated_sharpe=0.97, overfitting_probability=0.2, median_sharpe=0.3, champion_sharpe=None
    )
    assert decide_gate(good, GateThresholds()).passed
    worse_than_champion = GateFigures(0.97, 0.2, 0.3, champion_sharpe=0.35)
    decision = decide_gate(worse_than_champion, GateThresholds())
    assert not decision.passed and [c.name for c in decision.checks if not c.passed] == ["champion"]
    unknown = decide_gate(GateFigures(math.nan, math.nan, 0.3, None), GateThresholds())
    assert [c.name for c in unknown.checks if not c.passed] == ["deflated_sharpe", "pbo"]
    assert "could not be measured" in unknown.reason
    relaxed = decide_gate(GateFigures(0.97, 0.2, -0.1, None), GateThresholds(beat_buy_and_hold=False))
    assert relaxed.passed
