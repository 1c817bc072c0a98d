"""Optimisation (grid, random, parallel), walk-forward, sizing from the risk code, HTML report."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from trader.backtest.engine import BacktestConfig, run_backtest
from trader.backtest.optimize import grid, random_draws, search
from trader.backtest.report import drawdown_curve, render_report
from trader.backtest.synthetic import gbm_bars
from trader.backtest.walk_forward import walk_forward, window_bounds
from trader.core.lookahead import check_lookahead
from trader.core.risk.sizing import SizingMethod, SizingPolicy
from trader.core.strategies import BarSeries, SmaCrossover

SPACE = {"fast_window": [5, 10, 20], "slow_window": [10, 30, 60]}


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    return gbm_bars(1_200, seed=11, volatility=0.012, bar_seconds=86_400)


def test_grid_search_ranks_every_valid_combination_and_skips_invalid_ones(bars: BarSeries) -> None:
    progress: list[tuple[int, int]] = []
    result = search(
        "sma_crossover",
        grid(SPACE),
        bars,
        objective="total_return",
        processes=1,
        on_progress=lambda d, t: progress.append((d, t)),
    )
    # fast >= slow is refused by the strategy itself, so (10, 10) and (20, 10) are skipped.
    assert len(result.rows) + len(result.skipped) == 9
    assert {tuple(sorted(p.items())) for p, _reason in result.skipped} == {
        (("fast_window", 10), ("slow_window", 10)),
        (("fast_window", 20), ("slow_window", 10)),
    }
    objectives = [row.objective for row in result.rows]
    assert objectives == sorted(objectives, reverse=True)
    best = result.best
    single = run_backtest(SmaCrossover(**best.parameters), bars)  # type: ignore[arg-type]
    assert best.metrics["total_return"] == single.metrics.total_return
    assert progress[-1] == (9, 9)


def test_parallel_search_equals_the_inline_one(bars: BarSeries) -> None:
    candidates = random_draws({"fast_window": (3, 15), "slow_window": (20, 80)}, 24, seed=3)
    inline = search("sma_crossover", candidates, bars, processes=1)
    parallel = search("sma_crossover", candidates, bars, processes=2)
    assert [(dict(r.parameters), r.objective) for r in inline.rows] == [
        (dict(r.parameters), r.objective) for r in parallel.rows
    ]


def test_random_draws_respect_ranges_and_choices() -> None:
    draws = random_draws({"a": (1, 5), "b": (0.5, 1.5), "c": ["x", "y"]}, 50, seed=1)
    assert all(isinstance(d["a"], int) and 1 <= d["a"] <= 5 for d in draws)
    assert all(0.5 <= d["b"] <= 1.5 for d in draws)  # type: ignore[operator]
    assert {d["c"] for d in draws} == {"x", "y"}
    assert draws == random_draws({"a": (1, 5), "b": (0.5, 1.5), "c": ["x", "y"]}, 50, seed=1)


def test_walk_forward_trades_only_test_windows_and_chains_cash(bars: BarSeries) -> None:
    result = walk_forward(
        "sma_crossover",
        grid(SPACE),
        bars,
        train_bars=400,
        test_bars=200,
        processes=1,
        objective="total_return",
    )
    assert [(w.train_start, w.test_start, w.test_stop) for w in result.windows] == [
        (0, 400, 600),
        (200, 600, 800),
        (400, 800, 1000),
        (600, 1000, 1200),
    ]
    assert result.equity.size == 800
    np.testing.assert_array_equal(result.timestamps_ns, bars.timestamps_ns[400:1200])
    # The stitched total return compounds the windows' out-of-sample returns.
    compounded = np.prod([1 + w.out_of_sample["total_return"] for w in result.windows]) - 1
    assert result.metrics.total_return == pytest.approx(compounded, rel=1e-9)
    assert window_bounds(1000, 400, 300, anchored=True) == [(0, 400, 400, 700), (0, 700, 700, 1000)]


def test_sizing_from_the_risk_manager_code(bars: BarSeries) -> None:
    fraction = BacktestConfig(
        sizing=SizingPolicy(method=SizingMethod.FIXED_FRACTION, fraction=Decimal("0.25"))
    )
    result = run_backtest(SmaCrossover(10, 30), bars, fraction)
    assert len(result.trades) > 3
    first = result.trades
    entry_value = first.quantity[0] * first.entry_price[0]
    assert entry_value <= 0.25 * 1_000_000 and entry_value > 0.24 * 1_000_000
    atr_sized = run_backtest(
        SmaCrossover(10, 30), bars, BacktestConfig(sizing=SizingPolicy(method=SizingMethod.ATR))
    )
    assert len(atr_sized.trades) > 3 and not np.array_equal(atr_sized.trades.quantity, first.quantity)
    with pytest.raises(ValueError, match="Kelly"):
        BacktestConfig(sizing=SizingPolicy(method=SizingMethod.KELLY))


def test_html_report_is_self_contained(bars: BarSeries) -> None:
    strategy = SmaCrossover(10, 30)
    result = run_backtest(strategy, bars)
    page = render_report(
        result,
        title="SMA <test>",
        lookahead=check_lookahead(strategy, bars),
        series=[bars],
        strategy=strategy,
    )
    assert page.startswith("<!DOCTYPE html>")
    # The dashboard's charts, drawn by the inlined library; plain SVG plots where scripts do not run.
    assert 'id="equity-chart"' in page and 'id="candles-0"' in page and "TraderCharts.candles" in page
    noscript = page[page.index("<noscript>") : page.index("</noscript>")]
    assert noscript.count("<svg") == 2
    assert "SMA &lt;test&gt;" in page and "passed" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "<script src" not in page and "<link" not in page
    assert "sharpe_ratio" in page and result.stamp.run_id in page
    drawdown = drawdown_curve(np.array([100.0, 120.0, 90.0, 130.0]), 100.0)
    np.testing.assert_allclose(drawdown, [0.0, 0.0, -0.25, 0.0])
