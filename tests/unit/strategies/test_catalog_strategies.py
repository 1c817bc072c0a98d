"""Every catalogued strategy: no look-ahead, live evaluation equals the backtest, parameters validated."""

from __future__ import annotations

import numpy as np
import pytest

from trader.backtest.synthetic import gbm_bars
from trader.core.lookahead import check_lookahead
from trader.core.strategies import BarSeries, SmaCrossover, Strategy, evaluate_latest
from trader.core.strategies.base import Signals
from trader.core.strategies.catalog import (
    InvalidParametersError,
    UnknownStrategyTypeError,
    built_in_catalog,
)
from trader.core.strategies.ensemble import Ensemble, position_state

CATALOG = built_in_catalog()
SMA = {"type": "sma_crossover", "parameters": {"fast_window": 5, "slow_window": 20}}
CONFIGURED: dict[str, dict[str, object]] = {
    "regime_filter": {
        "strategy": SMA,
        "allowed_trends": "up,sideways",
        "allowed_volatility": "low,normal,high",
    },
    "multi_timeframe": {"strategy": SMA, "trend_window": 4},
    "ensemble": {
        "members": [
            SMA,
            {"type": "rsi_reversion", "parameters": {"window": 14, "oversold": 35, "overbought": 65}},
            {"type": "bollinger_reversion", "parameters": {}},
        ],
        "min_votes": 1,
    },
}


def _built(name: str) -> Strategy:
    return CATALOG.build(name, CONFIGURED.get(name, {}))


@pytest.fixture(scope="module")
def daily_bars() -> BarSeries:
    return gbm_bars(1_500, seed=4, volatility=0.015, bar_seconds=86_400)


@pytest.mark.parametrize("name", CATALOG.names())
def test_every_catalogued_strategy_passes_the_lookahead_check(name: str, daily_bars: BarSeries) -> None:
    strategy = _built(name)
    report = check_lookahead(strategy, daily_bars)
    assert report.passed, report.violations[:5]
    signals = strategy.generate(daily_bars)
    assert signals.entries.sum() >= 3 and signals.exits.sum() >= 3


@pytest.mark.parametrize("name", CATALOG.names())
def test_live_evaluation_matches_the_backtest(name: str, daily_bars: BarSeries) -> None:
    strategy = _built(name)
    full = strategy.generate(daily_bars)
    checked = 0
    for index in range(strategy.lookback_bars, len(daily_bars), 7):
        latest = evaluate_latest(strategy, daily_bars.head(index + 1))
        assert latest.direction is full.direction_at(index), (name, index)
        checked += 1
    assert checked > 50


def test_parameters_are_documented_for_every_built_in() -> None:
    for strategy_type in CATALOG.types():
        assert strategy_type.summary
        for spec in strategy_type.parameters:
            assert spec.description, f"{strategy_type.name}.{spec.name} has no description"


def test_unknown_type_and_bad_parameters_are_refused_with_the_parameter_named() -> None:
    with pytest.raises(UnknownStrategyTypeError, match="no_such"):
        CATALOG.build("no_such", {})
    with pytest.raises(InvalidParametersError) as unknown:
        CATALOG.build("sma_crossover", {"fast": 3})
    assert unknown.value.parameter == "fast"
    with pytest.raises(InvalidParametersError) as wrong_kind:
        CATALOG.build("sma_crossover", {"fast_window": "5"})
    assert wrong_kind.value.parameter == "fast_window"
    with pytest.raises(InvalidParametersError, match="fast < slow"):
        CATALOG.build("sma_crossover", {"fast_window": 30, "slow_window": 10})
    with pytest.raises(InvalidParametersError) as nested:
        CATALOG.build(
            "ensemble", {"members": [SMA, {"type": "sma_crossover", "parameters": {"slow_window": True}}]}
        )
    assert nested.value.parameter == "members[1].slow_window"
    with pytest.raises(InvalidParametersError) as missing:
        CATALOG.build("regime_filter", {})
    assert missing.value.parameter == "strategy"
    with pytest.raises(InvalidParametersError, match="unknown TrendRegime 'bullish'"):
        CATALOG.build("regime_filter", {"strategy": SMA, "allowed_trends": "bullish"})


def test_defaults_fill_missing_parameters_and_floats_accept_integers() -> None:
    strategy = CATALOG.build("rsi_reversion", {"oversold": 25})
    assert strategy.parameters() == {"window": 14, "oversold": 25.0, "overbought": 70.0}


def test_the_regime_filter_drops_entries_outside_its_regimes(daily_bars: BarSeries) -> None:
    inner = SmaCrossover(5, 20)
    only_up = CATALOG.build("regime_filter", {"strategy": SMA, "allowed_trends": "up"})
    only_down = CATALOG.build("regime_filter", {"strategy": SMA, "allowed_trends": "down,sideways"})
    base = inner.generate(daily_bars)
    up, down = only_up.generate(daily_bars), only_down.generate(daily_bars)
    # Entries split between disjoint trend regimes (volatility filter identical), exits untouched.
    assert not (up.entries & down.entries).any()
    assert (up.entries | down.entries).sum() <= base.entries.sum()
    assert up.entries.sum() > 0 and down.entries.sum() > 0
    assert np.array_equal(up.exits, base.exits)


def test_position_state_follows_the_last_signal() -> None:
    signals = Signals(
        entries=np.array([False, True, False, True, False, False, True]),
        exits=np.array([False, False, True, False, True, True, True]),
    )
    assert position_state(signals).tolist() == [False, True, False, True, False, False, False]


def test_the_ensemble_is_long_when_enough_members_are(daily_bars: BarSeries) -> None:
    members = (SmaCrossover(5, 20), SmaCrossover(10, 40), SmaCrossover(20, 60))
    ensemble = Ensemble(members, min_votes=2)
    states = np.vstack([position_state(member.generate(daily_bars)) for member in members])
    expected_long = states.sum(axis=0) >= 2
    signals = ensemble.generate(daily_bars)
    assert np.array_equal(position_state(signals), expected_long)
    assert Ensemble(members).required_votes == 2


def test_multi_timeframe_confirmation_reads_only_completed_weeks(daily_bars: BarSeries) -> None:
    strategy = CATALOG.build("multi_timeframe", {"strategy": SMA, "trend_window": 4})
    confirmed = strategy.confirmed(daily_bars)  # type: ignore[attr-defined]
    # Changing every close of the current week leaves the confirmation inside that week unchanged.
    day_ns = 86_400 * 10**9
    week = (daily_bars.timestamps_ns + 3 * day_ns) // (7 * day_ns)
    last_week = week == week[-1]
    altered_close = daily_bars.close.copy()
    altered_close[last_week] *= 3.0
    altered = BarSeries(
        daily_bars.symbol,
        daily_bars.timestamps_ns,
        daily_bars.open,
        daily_bars.high,
        daily_bars.low,
        altered_close,
        daily_bars.volume,
    )
    assert np.array_equal(strategy.confirmed(altered), confirmed)  # type: ignore[attr-defined]
    assert 0 < confirmed.sum() < len(confirmed)


@pytest.mark.parametrize("type_name", ["bollinger_breakout", "bollinger_reversion"])
@pytest.mark.parametrize("parameters", [{"window": 1}, {"deviations": 0.0}, {"deviations": -2.0}])
def test_both_bollinger_strategies_refuse_a_window_below_two_and_a_band_width_not_above_zero(
    type_name: str, parameters: dict[str, object]
) -> None:
    with pytest.raises(InvalidParametersError, match="need window >= 2 and deviations > 0"):
        CATALOG.build(type_name, parameters)
    built = CATALOG.build(type_name, {"window": 10, "deviations": 1.5})
    assert built.name == type_name
    assert built.lookback_bars == 10
    assert built.parameters() == {"window": 10, "deviations": 1.5}
