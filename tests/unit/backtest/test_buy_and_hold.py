"""Buy-and-hold beside every backtest: the same symbols, the same span, the same costs."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from trader.backtest.benchmark import buy_and_hold
from trader.backtest.engine import BacktestConfig, run_backtest
from trader.backtest.report import render_report
from trader.backtest.synthetic import gbm_bars
from trader.core.fills import Commission, FillModel, FillRule, Slippage
from trader.core.strategies import BarSeries, SmaCrossover

MINUTE = 60_000_000_000


def series(symbol: str, opens: list[float], closes: list[float]) -> BarSeries:
    timestamps = np.arange(len(opens), dtype=np.int64) * MINUTE + 1_700_000_000 * 1_000_000_000
    high = np.maximum(opens, closes) + 1
    low = np.minimum(opens, closes) - 1
    return BarSeries.from_arrays(
        symbol, timestamps, np.array(opens), high, low, np.array(closes), np.full(len(opens), 1e6)
    )


def test_the_cash_is_split_equally_and_each_symbol_is_bought_at_the_first_fill_with_the_costs() -> None:
    first = series("AAA", [10.0, 20.0, 21.0, 22.0], [11.0, 20.5, 21.5, 30.0])
    second = series("BBB", [50.0, 40.0, 41.0, 42.0], [45.0, 40.5, 41.5, 60.0])
    model = FillModel(slippage=Slippage(Decimal(100)), commission=Commission(per_share=Decimal(1)))
    held = buy_and_hold([first, second], initial_cash=1000.0, fill_model=model)

    # NEXT_OPEN: bar 1's open (a signal needs a closed bar) plus 1% slippage, 1 per share commission.
    assert held.quantities == (23.0, 12.0)  # 500 // (20.2 + 1), 500 // (40.4 + 1)
    cash = 1000.0 - 23 * 20.2 - 23 - 12 * 40.4 - 12
    assert held.equity[0] == 1000.0
    assert held.equity[1:] == pytest.approx(
        [
            cash + 23 * close_a + 12 * close_b
            for close_a, close_b in ((20.5, 40.5), (21.5, 41.5), (30.0, 60.0))
        ]
    )
    assert held.metrics.trade_count == 2 and held.metrics.final_equity == Decimal(
        str(round(held.equity[-1], 4))
    )


def test_under_the_close_rule_it_buys_at_the_first_close() -> None:
    only = series("AAA", [10.0, 20.0, 21.0], [11.0, 20.5, 30.0])
    held = buy_and_hold([only], initial_cash=1000.0, fill_model=FillModel.frictionless(FillRule.CLOSE))
    assert held.quantities == (90.0,)  # 1000 // 11
    assert held.equity.tolist() == [1000.0, 10 + 90 * 20.5, 10 + 90 * 30.0]


def test_every_backtest_carries_buy_and_hold_under_its_own_costs() -> None:
    bars = gbm_bars(2_000, seed=4)
    costly = run_backtest(SmaCrossover(10, 30), bars, BacktestConfig())
    free = run_backtest(SmaCrossover(10, 30), bars, BacktestConfig(fill_model=FillModel.frictionless()))
    held, free_held = costly.buy_and_hold(), free.buy_and_hold()
    assert held.equity.shape == costly.equity.shape
    assert held.equity[-1] < free_held.equity[-1]  # slippage on the one buy
    expected = buy_and_hold([bars], initial_cash=1_000_000.0, fill_model=BacktestConfig().fill_model)
    np.testing.assert_array_equal(held.equity, expected.equity)


def test_the_html_report_shows_the_strategy_beside_buy_and_hold_and_the_costs() -> None:
    bars = gbm_bars(1_200, seed=11, volatility=0.012, bar_seconds=86_400)
    result = run_backtest(SmaCrossover(10, 30), bars)
    page = render_report(result, title="SMA")
    assert "<th>strategy</th><th>buy and hold</th>" in page
    held_return = f"{result.buy_and_hold().metrics.total_return * 100:.2f}%"
    assert held_return in page
    assert page.count("stroke-dasharray") == 2  # the held curve on the equity and drawdown charts
    assert "<td>SEC fee (per $ sold)</td><td>0.0000278</td>" in page
    assert "<td>slippage (bps)</td><td>5</td>" in page
