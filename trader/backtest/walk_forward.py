"""Walk-forward optimisation: optimise on a training window, trade the next window out of sample.

Windows roll forward by `test_bars` (or are anchored at the first bar with `anchored=True`).
In each window the best parameters on the training bars are chosen by `search`; the strategy
with them then trades the test bars only: its signals are computed with up to `lookback_bars`
of history before the test window (so indicators are warm, and no bar after t is read at t),
the simulation starts flat on the first test bar, and it starts with the cash the previous test
window ended with. The stitched out-of-sample equity is the figure to believe; the in-sample
objective beside it shows how much of the optimum was fitted noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from trader.backtest.engine import BacktestConfig, simulate
from trader.backtest.metrics import PerformanceMetrics, compute_metrics, infer_periods_per_year
from trader.backtest.optimize import ProgressCallback, metrics_as_dict, search
from trader.core.money import to_decimal
from trader.core.strategies.base import Signals
from trader.core.strategies.catalog import StrategyCatalog, built_in_catalog
from trader.core.strategies.series import BarSeries

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WalkForwardWindow:
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int
    parameters: Mapping[str, object]
    in_sample_objective: float
    out_of_sample: Mapping[str, float]


@dataclass(frozen=True, slots=True, eq=False)
class WalkForwardResult:
    strategy_type: str
    objective: str
    windows: tuple[WalkForwardWindow, ...]
    timestamps_ns: NDArray[np.int64]  # the test bars, stitched
    equity: FloatArray
    metrics: PerformanceMetrics  # of the stitched out-of-sample equity


def window_bounds(
    size: int, train_bars: int, test_bars: int, *, anchored: bool = False
) -> list[tuple[int, int, int, int]]:
    if train_bars < 2 or test_bars < 2:
        raise ValueError("train_bars and test_bars must be >= 2")
    bounds = []
    test_start = train_bars
    while test_start + test_bars <= size:
        train_start = 0 if anchored else test_start - train_bars
        bounds.append((train_start, test_start, test_start, test_start + test_bars))
        test_start += test_bars
    if not bounds:
        raise ValueError(f"{size} bars cannot hold one window of {train_bars} train + {test_bars} test bars")
    return bounds


def _slice_all(series_list: Sequence[BarSeries], start: int, stop: int) -> list[BarSeries]:
    return [series.slice(start, stop) for series in series_list]


def walk_forward(
    strategy_type: str,
    candidates: Sequence[Mapping[str, object]],
    data: BarSeries | Sequence[BarSeries],
    config: BacktestConfig | None = None,
    *,
    train_bars: int,
    test_bars: int,
    anchored: bool = False,
    objective: str = "sharpe_ratio",
    processes: int | None = None,
    catalog: StrategyCatalog | None = None,
    on_progress: ProgressCallback | None = None,
    executor: Executor | None = None,
) -> WalkForwardResult:
    catalog = catalog or built_in_catalog()
    config = config or BacktestConfig()
    series_list = [data] if isinstance(data, BarSeries) else list(data)
    size = len(series_list[0])
    bounds = window_bounds(size, train_bars, test_bars, anchored=anchored)
    periods = config.periods_per_year or infer_periods_per_year(series_list[0].timestamps_ns)
    cash = float(config.initial_cash)
    windows = []
    equity_parts: list[FloatArray] = []
    trade_profit: list[FloatArray] = []
    exposure_bars = 0.0
    trade_count = 0
    total_steps = len(bounds)
    for step, (train_start, train_stop, test_start, test_stop) in enumerate(bounds):
        optimised = search(
            strategy_type,
            candidates,
            _slice_all(series_list, train_start, train_stop),
            replace(config, initial_cash=to_decimal(cash)),
            objective=objective,
            processes=processes,
            catalog=catalog,
            executor=executor,
        )
        best = optimised.best
        strategy = catalog.build(strategy_type, best.parameters)
        warm_start = max(0, test_start - strategy.lookback_bars)
        signals = []
        for series in series_list:
            generated = strategy.generate(series.slice(warm_start, test_stop))
            offset = test_start - warm_start
            signals.append(Signals(entries=generated.entries[offset:], exits=generated.exits[offset:]))
        window_config = replace(config, initial_cash=to_decimal(cash), periods_per_year=periods)
        test_series = _slice_all(series_list, test_start, test_stop)
        table, _cash, equity = simulate(test_series, signals, window_config)
        window_metrics = compute_metrics(
            equity=equity,
            initial_cash=cash,
            trade_profit=table.profit[table.closed],
            exposure=0.0,
            periods_per_year=periods,
            trade_count=len(table),
        )
        windows.append(
            WalkForwardWindow(
                train_start,
                train_stop,
                test_start,
                test_stop,
                dict(best.parameters),
                best.objective,
                metrics_as_dict(window_metrics),
            )
        )
        equity_parts.append(equity)
        trade_profit.append(table.profit[table.closed])
        trade_count += len(table)
        held = np.zeros(test_stop - test_start, dtype=np.int64)
        for entry, exit_ in zip(table.entry_bar, table.exit_bar, strict=True):
            held[entry : exit_ if exit_ >= 0 else None] = 1
        exposure_bars += float(held.sum())
        cash = float(equity[-1])
        if on_progress is not None:
            on_progress(step + 1, total_steps)
    stitched = np.concatenate(equity_parts)
    timestamps = np.concatenate(
        [series_list[0].timestamps_ns[test_start:test_stop] for _a, _b, test_start, test_stop in bounds]
    )
    metrics = compute_metrics(
        equity=stitched,
        initial_cash=float(config.initial_cash),
        trade_profit=np.concatenate(trade_profit),
        exposure=exposure_bars / stitched.size,
        periods_per_year=periods,
        trade_count=trade_count,
    )
    return WalkForwardResult(strategy_type, objective, tuple(windows), timestamps, stitched, metrics)
