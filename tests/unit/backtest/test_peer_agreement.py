"""The SMA crossover backtest against backtesting.py and backtrader on one small fixture.

Same data (GBM on a 1/128 tick), same written-out crossing rule, next-open fills, all-in whole
units, no costs (asked for by name: the system's default charges slippage and fees, the peers
charge nothing): every engine must produce the same round trips and the same final equity.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.backtest.peers import PeerResult, run_backtesting_py, run_backtrader
from trader.backtest.engine import BacktestConfig, run_backtest
from trader.backtest.synthetic import gbm_bars
from trader.core.fills import FillModel
from trader.core.strategies import BarSeries, SmaCrossover


@pytest.fixture(scope="module")
def fixture_bars() -> BarSeries:
    return gbm_bars(3_000, seed=11)


@pytest.fixture(scope="module")
def ours(fixture_bars: BarSeries) -> PeerResult:
    result = run_backtest(
        SmaCrossover(10, 30), fixture_bars, BacktestConfig(fill_model=FillModel.frictionless())
    )
    table = result.trades
    trades = [
        (int(entry), int(exit_), float(quantity))
        for entry, exit_, quantity in zip(table.entry_bar, table.exit_bar, table.quantity, strict=True)
    ]
    return PeerResult("ours", float(result.equity[-1]), trades)


def test_fixture_has_enough_trades_to_mean_something(ours: PeerResult) -> None:
    assert len(ours.trades) > 40


@pytest.mark.parametrize("peer", [run_backtesting_py, run_backtrader], ids=["backtesting.py", "backtrader"])
def test_same_trades_and_final_equity(
    fixture_bars: BarSeries, ours: PeerResult, peer: Callable[[BarSeries, int, int, float], PeerResult]
) -> None:
    theirs = peer(fixture_bars, 10, 30, 1_000_000.0)
    assert theirs.trades == ours.trades
    assert theirs.final_equity == ours.final_equity
