from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from trader.backtest.engine import BacktestConfig, run_backtest
from trader.backtest.metrics import compute_metrics, infer_periods_per_year
from trader.backtest.stamp import ReproductionMismatchError, check_reproduction
from trader.backtest.synthetic import gbm_bars
from trader.core.strategies import BarSeries, SmaCrossover


def test_metrics_of_a_known_curve() -> None:
    equity = np.array([110.0, 99.0, 121.0, 108.9])
    profits = np.array([10.0, -5.0, 20.0, -2.5])
    metrics = compute_metrics(
        equity=equity,
        initial_cash=100.0,
        trade_profit=profits,
        exposure=0.5,
        periods_per_year=4,
        trade_count=5,
    )
    assert metrics.total_return == pytest.approx(0.089)
    assert metrics.annual_return == pytest.approx(0.089)  # exactly one year of bars
    assert metrics.max_drawdown == pytest.approx(0.1)  # 110 -> 99
    assert metrics.calmar_ratio == pytest.approx(0.89)
    assert metrics.win_rate == 0.5
    assert metrics.profit_factor == pytest.approx(30 / 7.5)
    returns = np.array([0.1, -0.1, 121 / 99 - 1, -0.1])
    assert metrics.sharpe_ratio == pytest.approx(returns.mean() / returns.std(ddof=1) * 2)
    downside = math.sqrt((0.01 + 0.01) / 4)
    assert metrics.sortino_ratio == pytest.approx(returns.mean() / downside * 2)
    assert metrics.final_equity == Decimal("108.9000")


def test_periods_per_year_follow_the_bar_spacing() -> None:
    minute = np.arange(10, dtype=np.int64) * 60_000_000_000
    day = np.arange(10, dtype=np.int64) * 86_400_000_000_000
    assert infer_periods_per_year(minute) == 252 * 390
    assert infer_periods_per_year(minute * 5) == 252 * 78
    assert infer_periods_per_year(day) == 252


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    return gbm_bars(4_000, seed=5)


def test_a_run_reproduces_with_the_same_stamp_and_results(bars: BarSeries) -> None:
    first = run_backtest(SmaCrossover(10, 30), bars)
    second = run_backtest(SmaCrossover(10, 30), gbm_bars(4_000, seed=5))
    assert first.stamp == second.stamp
    check_reproduction(first.stamp, second.stamp)
    np.testing.assert_array_equal(first.equity, second.equity)
    assert first.stamp.seed == 0 and first.stamp.strategy_name == "sma_crossover"
    assert '"fast_window":10' in first.stamp.parameters


def test_changed_data_parameters_or_seed_change_the_stamp(bars: BarSeries) -> None:
    base = run_backtest(SmaCrossover(10, 30), bars).stamp
    changed_close = bars.close.copy()
    changed_close[-1] += 1.0 / 128
    other_data = replace(bars, close=changed_close)
    assert run_backtest(SmaCrossover(10, 30), other_data).stamp.data_hash != base.data_hash
    other_parameters = run_backtest(SmaCrossover(10, 31), bars).stamp
    other_seed = run_backtest(SmaCrossover(10, 30), bars, BacktestConfig(seed=1)).stamp
    for other in (other_parameters, other_seed):
        assert other.run_id != base.run_id
        with pytest.raises(ReproductionMismatchError):
            check_reproduction(base, other)


def test_result_metrics_agree_with_the_trade_list(bars: BarSeries) -> None:
    result = run_backtest(SmaCrossover(5, 20), bars)
    profits = result.trades.profit[result.trades.closed]
    assert result.metrics.win_rate == pytest.approx((profits > 0).mean())
    assert result.metrics.closed_trade_count == profits.size
    records = result.trades.records()
    assert len(records) == len(result.trades)
    assert records[0].entry_at == bars.timestamp_at(int(result.trades.entry_bar[0]))
    assert 0.0 < result.metrics.exposure < 1.0
