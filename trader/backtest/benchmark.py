"""Buy-and-hold of the same symbols over the same bars, with the same costs: the bar a strategy
has to clear before its trading is worth anything.

The starting cash is split equally between the symbols; each is bought with the strategy's fill
model (slippage, commission) at the first moment a strategy could have filled — bar 1's open
under `FillRule.NEXT_OPEN` (a signal needs a closed bar), bar 0's close under `FillRule.CLOSE` —
and held to the end, marked at every close like a strategy's open position (never sold, so it
pays no sale fees, as a held position pays none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.backtest.metrics import PerformanceMetrics, compute_metrics, infer_periods_per_year
from trader.core.fills import FillModel, FillRule
from trader.core.strategies.series import BarSeries

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class BuyAndHold:
    equity: FloatArray
    quantities: tuple[float, ...]  # units bought, one per symbol (0 when its share buys none)
    metrics: PerformanceMetrics


def buy_and_hold(
    series_list: Sequence[BarSeries],
    *,
    initial_cash: float,
    fill_model: FillModel,
    periods_per_year: float | None = None,
) -> BuyAndHold:
    """The equal-weight buy-and-hold of `series_list` (aligned bars) under `fill_model`."""
    if not series_list:
        raise ValueError("buy-and-hold needs at least one symbol")
    size = len(series_list[0].close)
    fill_bar = fill_model.rule.bar_offset
    equity = np.full(size, initial_cash, dtype=np.float64)
    if fill_bar >= size:
        quantities: tuple[float, ...] = tuple(0.0 for _ in series_list)
    else:
        budget = initial_cash / len(series_list)
        cash = initial_cash
        held = np.zeros(size - fill_bar, dtype=np.float64)
        bought = []
        for series in series_list:
            reference = series.open if fill_model.rule is FillRule.NEXT_OPEN else series.close
            price = float(reference[fill_bar]) * (1.0 + fill_model.slippage.fraction)
            quantity = fill_model.affordable_quantity_float(budget, price)
            if quantity > 0:
                cash -= quantity * price + fill_model.commission.charge_float(quantity, price)
                held += quantity * series.close[fill_bar:]
            bought.append(float(quantity))
        equity[fill_bar:] = cash + held
        quantities = tuple(bought)
    timestamps = series_list[0].timestamps_ns
    metrics = compute_metrics(
        equity=equity,
        initial_cash=initial_cash,
        trade_profit=np.empty(0, dtype=np.float64),
        exposure=(size - fill_bar) / size if size and any(quantities) else 0.0,
        periods_per_year=periods_per_year or infer_periods_per_year(timestamps),
        trade_count=sum(1 for quantity in quantities if quantity > 0),
    )
    return BuyAndHold(equity=equity, quantities=quantities, metrics=metrics)
