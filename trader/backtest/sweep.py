"""Parameter sweeps: many backtests over one data set, sharing whatever can be shared."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trader.backtest.engine import BacktestConfig, pair_signals, simulate
from trader.core.fills import FillRule
from trader.core.indicators import FloatArray, sma
from trader.core.strategies.base import Signals, Strategy
from trader.core.strategies.crossing import cross_above, cross_below
from trader.core.strategies.series import BarSeries


@dataclass(frozen=True, slots=True)
class SweepRow:
    parameters: Mapping[str, object]
    final_equity: float
    total_return: float
    trade_count: int


def sweep(
    strategies: Iterable[Strategy], data: BarSeries | Sequence[BarSeries], config: BacktestConfig
) -> list[SweepRow]:
    """Run each strategy through the full engine (costs, stops, several symbols) and collect the outcome."""
    series_list = [data] if isinstance(data, BarSeries) else list(data)
    rows = []
    initial = float(config.initial_cash)
    for strategy in strategies:
        signals = [strategy.generate(series) for series in series_list]
        table, _cash, equity = simulate(series_list, signals, config)
        final = float(equity[-1])
        rows.append(SweepRow(dict(strategy.parameters()), final, final / initial - 1.0, len(table)))
    return rows


def _final_equity_all_in(
    series: BarSeries, signals: Signals, config: BacktestConfig
) -> tuple[float, int] | None:
    """Final equity and trade count for the common case (one symbol, no stops, no costs, all-in).

    Only the cash recursion is sequential, so it alone runs as a loop; anything else returns None
    and goes through the full engine.
    """
    model = config.fill_model
    if (
        config.stops.active
        or config.sizing is not None
        or not model.is_frictionless
        or config.allocation != 1
    ):
        return None
    offset = model.rule.bar_offset
    size = len(series)
    entries, exits = pair_signals(
        np.flatnonzero(signals.entries & ~signals.exits), np.flatnonzero(signals.exits & ~signals.entries)
    )
    entry_fill = entries + offset
    entry_fill = entry_fill[entry_fill < size]
    exit_fill = exits[: entry_fill.size] + offset
    exit_fill = exit_fill[exit_fill < size]
    prices = series.open if model.rule is FillRule.NEXT_OPEN else series.close
    buys = prices[entry_fill].tolist()
    sells = prices[exit_fill].tolist()
    cash = float(config.initial_cash)
    quantity = 0.0
    for buy, sell in zip(buys, sells, strict=False):
        quantity = cash // buy
        if quantity <= 0.0:
            return None
        cash += quantity * (sell - buy)
    if len(buys) > len(sells):
        quantity = cash // buys[-1]
        if quantity <= 0.0:
            return None
        cash += quantity * (float(series.close[-1]) - buys[-1])
    return cash, len(buys)


def sweep_sma_crossover(
    data: BarSeries,
    fast_windows: Sequence[int],
    slow_windows: Sequence[int],
    config: BacktestConfig | None = None,
) -> list[SweepRow]:
    """Every (fast, slow) pair with fast < slow: each SMA is computed once and shared by all pairs."""
    config = config or BacktestConfig()
    averages: dict[int, FloatArray] = {
        window: sma(data.close, window) for window in sorted({*fast_windows, *slow_windows})
    }
    initial = float(config.initial_cash)
    rows = []
    for fast, slow in itertools.product(fast_windows, slow_windows):
        if fast >= slow:
            continue
        signals = Signals(
            entries=cross_above(averages[fast], averages[slow]),
            exits=cross_below(averages[fast], averages[slow]),
        )
        outcome = _final_equity_all_in(data, signals, config)
        if outcome is None:
            table, _cash, equity = simulate([data], [signals], config)
            outcome = float(equity[-1]), len(table)
        final, trades = outcome
        rows.append(
            SweepRow({"fast_window": fast, "slow_window": slow}, final, final / initial - 1.0, trades)
        )
    return rows
