"""Labels a trader can capture: the net return of a trade the signal could really have made.

A signal at bar t's close buys at bar t+1's open (the fill model's NEXT_OPEN rule) and holds for
`horizon` bars: the exit is decided at bar t+horizon's close and fills at bar t+horizon+1's open,
unless a stop-loss, take-profit or trailing stop fires first, found with the backtester's own
intrabar rule (`trader.backtest.engine.first_stop`) over the bars the position is held. The
return is net of slippage and commission (`trader.ml.costs`). The label ends at the exit bar:
that is the time purging and embargo work with.

`forward_returns` and `up_labels` (close-to-close) remain for drift references and old callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from trader.backtest.engine import StopRules, first_stop
from trader.backtest.trades import ExitReason
from trader.core.fills import FillModel
from trader.core.strategies.series import BarSeries
from trader.ml.costs import buy_prices, net_round_trip_returns

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
NO_END = np.iinfo(np.int64).max


def forward_returns(close: FloatArray, horizon: int) -> FloatArray:
    """Log return from bar t's close to bar t+horizon's close; NaN where the future is not in the data."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    result = np.full(close.shape, np.nan)
    if close.size > horizon:
        with np.errstate(divide="ignore", invalid="ignore"):
            result[:-horizon] = np.log(close[horizon:] / close[:-horizon])
    return result


def up_labels(close: FloatArray, horizon: int, threshold: float = 0.0) -> FloatArray:
    """1.0 where the forward return beats `threshold`, 0.0 where not, NaN where unknown."""
    future = forward_returns(close, horizon)
    labels = np.where(future > threshold, 1.0, 0.0)
    labels[np.isnan(future)] = np.nan
    return labels


@dataclass(frozen=True, slots=True)
class TradeRules:
    """How a labelled trade is made: hold `horizon` bars, stops as the backtester's, this fill model."""

    horizon: int
    fill_model: FillModel = field(default_factory=FillModel)
    stops: StopRules = field(default_factory=StopRules)
    notional: float = 10_000.0  # trade size the per-share and minimum commissions are charged on

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if self.notional <= 0:
            raise ValueError(f"notional must be positive, got {self.notional}")


@dataclass(frozen=True, slots=True, eq=False)
class TradeLabels:
    net_return: FloatArray  # NaN where the trade cannot complete inside the data
    exit_bar: IntArray  # bar whose open (or intrabar stop) ends the trade; -1 when unknown
    end_ns: IntArray  # that bar's timestamp; NO_END when unknown


def trade_labels(series: BarSeries, rules: TradeRules) -> TradeLabels:
    size, horizon = len(series), rules.horizon
    net = np.full(size, np.nan)
    exit_bar = np.full(size, -1, dtype=np.int64)
    end_ns = np.full(size, NO_END, dtype=np.int64)
    count = size - horizon - 1  # signals whose horizon exit still fills inside the data
    if count <= 0:
        return TradeLabels(net, exit_bar, end_ns)
    signal = np.arange(count, dtype=np.int64)
    entry_fill = buy_prices(rules.fill_model, series.open[signal + 1])
    exits = signal + horizon + 1
    sell_reference = series.open[exits].copy()
    take_profit = np.zeros(count, dtype=np.bool_)
    if rules.stops.active:
        for index in range(count):
            hit = first_stop(series, index + 1, int(exits[index]), float(entry_fill[index]), rules.stops)
            if hit is not None:
                exits[index], sell_reference[index] = hit[0], hit[1]
                take_profit[index] = hit[2] is ExitReason.TAKE_PROFIT
    net[:count] = net_round_trip_returns(
        rules.fill_model, entry_fill, sell_reference, rules.notional, limit_exit=take_profit
    )
    usable = np.isfinite(net[:count])
    exit_bar[:count] = np.where(usable, exits, -1)
    end_ns[:count] = np.where(usable, series.timestamps_ns[exits], NO_END)
    net[:count][~usable] = np.nan
    return TradeLabels(net, exit_bar, end_ns)
