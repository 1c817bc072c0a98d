"""Built-in strategies: no look-ahead, and the live path agrees with the backtest path."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from trader.backtest.engine import BacktestConfig, run_backtest
from trader.backtest.sweep import sweep, sweep_sma_crossover
from trader.backtest.synthetic import gbm_bars
from trader.core.fills import FillModel
from trader.core.lookahead import check_lookahead
from trader.core.strategies import (
    BarSeries,
    BollingerReversion,
    DonchianBreakout,
    MacdCrossover,
    RsiReversion,
    SignalDirection,
    Signals,
    SmaCrossover,
    Strategy,
    evaluate_latest,
)

BUILT_INS: list[Strategy] = [
    SmaCrossover(10, 30),
    RsiReversion(14, 30, 70),
    MacdCrossover(12, 26, 9),
    BollingerReversion(20, 2.0),
    DonchianBreakout(20, 10),
]


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    return gbm_bars(2_000, seed=9, volatility=0.004)


class PeekingStrategy:
    """Buys when the next close is higher: the kind of bug the check exists for."""

    name = "peeking"
    lookback_bars = 2

    def parameters(self) -> Mapping[str, object]:
        return {}

    def generate(self, bars: BarSeries) -> Signals:
        rising = np.zeros(len(bars), bool)
        rising[:-1] = bars.close[1:] > bars.close[:-1]
        return Signals(entries=rising, exits=~rising)


@pytest.mark.parametrize("strategy", BUILT_INS, ids=lambda strategy: strategy.name)
def test_built_in_has_no_lookahead_and_trades(strategy: Strategy, bars: BarSeries) -> None:
    report = check_lookahead(strategy, bars)
    assert report.passed, report.violations[:5]
    assert len(report.checked_lengths) >= 20
    signals = strategy.generate(bars)
    assert signals.entries.sum() > 3 and signals.exits.sum() > 3


def test_a_peeking_strategy_is_flagged(bars: BarSeries) -> None:
    report = check_lookahead(PeekingStrategy(), bars)
    assert not report.passed
    violation = report.violations[0]
    assert violation.bar_index == violation.truncated_length - 1


@pytest.mark.parametrize("strategy", BUILT_INS, ids=lambda strategy: strategy.name)
def test_live_evaluation_matches_the_backtest_signals(strategy: Strategy, bars: BarSeries) -> None:
    full = strategy.generate(bars)
    for index in range(strategy.lookback_bars, len(bars), 37):
        latest = evaluate_latest(strategy, bars.head(index + 1))
        assert latest.bar_index == index
        assert latest.direction is full.direction_at(index), index


def test_direction_of_a_bar() -> None:
    signals = Signals(
        entries=np.array([True, False, True, False]), exits=np.array([False, True, True, False])
    )
    assert [signals.direction_at(i) for i in range(4)] == [
        SignalDirection.BUY,
        SignalDirection.SELL,
        SignalDirection.FLAT,
        SignalDirection.FLAT,
    ]


@pytest.mark.parametrize("frictionless", [False, True], ids=["default costs", "frictionless fast path"])
def test_sma_sweep_matches_single_runs(frictionless: bool) -> None:
    data = gbm_bars(20_000, seed=2)
    config = BacktestConfig(fill_model=FillModel.frictionless()) if frictionless else BacktestConfig()
    rows = sweep_sma_crossover(data, [5, 10, 15], [20, 40], config)
    assert len(rows) == 6
    for row in rows:
        fast, slow = row.parameters["fast_window"], row.parameters["slow_window"]
        assert isinstance(fast, int) and isinstance(slow, int)
        single = run_backtest(SmaCrossover(fast, slow), data, config)
        assert row.final_equity == float(single.equity[-1])
        assert row.trade_count == len(single.trades)


def test_generic_sweep_runs_each_strategy_through_the_engine(bars: BarSeries) -> None:
    config = BacktestConfig()
    rows = sweep([SmaCrossover(5, 20), DonchianBreakout(20, 10)], bars, config)
    assert [row.parameters for row in rows] == [
        {"fast_window": 5, "slow_window": 20},
        {"entry_window": 20, "exit_window": 10},
    ]
    assert rows[1].final_equity == float(run_backtest(DonchianBreakout(20, 10), bars, config).equity[-1])
