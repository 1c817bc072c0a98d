"""The SMA-crossover workload written for each peer engine, under one set of conventions.

Conventions (see /work/shared/notes/benchmarks.md):
- cross up at t:   fast[t] > slow[t] and fast[t-1] <= slow[t-1]; cross down mirrors it. Written
  out in every peer instead of its own crossover helper, whose tie rules differ.
- decided at bar t's close, filled at bar t+1's open; long-only; a buy takes
  floor(cash / fill price) whole units, a sell closes everything; no costs.
- prices on a 1/128 tick, so every engine's SMA is bit-identical.

Each runner returns a `PeerResult`: final equity and the round trips as (entry bar, exit bar or
-1, quantity), so results can be compared trade by trade.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trader.core.strategies.series import BarSeries


@dataclass(slots=True)
class PeerResult:
    tool: str
    final_equity: float
    trades: list[tuple[int, int, float]] = field(default_factory=list)
    seconds: float = math.nan


def to_frame(series: BarSeries) -> pd.DataFrame:
    """OHLCV frame with a naive (UTC) DatetimeIndex: aware indexes cost vectorbt seconds per wrap."""
    index = pd.DatetimeIndex(series.timestamps_ns.astype("datetime64[ns]"))
    return pd.DataFrame(
        {
            "Open": series.open,
            "High": series.high,
            "Low": series.low,
            "Close": series.close,
            "Volume": series.volume,
        },
        index=index,
    )


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    averaged: np.ndarray = pd.Series(values).rolling(window).mean().to_numpy()
    return averaged


def run_backtesting_py(
    series: BarSeries, fast: int = 10, slow: int = 30, cash: float = 1_000_000.0
) -> PeerResult:
    from backtesting import Backtest, Strategy

    next_opens = np.append(series.open[1:], np.nan)

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast_line = self.I(_rolling_mean, self.data.Close, fast)
            self.slow_line = self.I(_rolling_mean, self.data.Close, slow)

        def next(self) -> None:
            f, s = self.fast_line, self.slow_line
            if len(f) < 2:
                return
            if not self.position:
                if f[-1] > s[-1] and f[-2] <= s[-2]:
                    # backtesting.py would size all-in with `(1 - eps)`; size explicitly with the
                    # next open (the fill price), as the convention says.
                    price = next_opens[len(self.data) - 1]
                    if price == price:
                        units = int(self.equity // price)
                        if units > 0:
                            self.buy(size=units)
            elif f[-1] < s[-1] and f[-2] >= s[-2]:
                self.position.close()

    backtest = Backtest(to_frame(series), SmaCross, cash=cash, commission=0.0, trade_on_close=False)
    with warnings.catch_warnings():
        # It warns that the last trade is still open (we compare it as open) and about pandas.
        warnings.simplefilter("ignore")
        stats = backtest.run()
    trades = [
        (int(row.EntryBar), int(row.ExitBar), float(row.Size))
        for row in stats["_trades"].itertuples(index=False)
    ]
    strategy = stats["_strategy"]
    if strategy.position:
        trades.append((int(strategy.trades[-1].entry_bar), -1, float(strategy.position.size)))
    return PeerResult("backtesting.py", float(stats["Equity Final [$]"]), trades)


def run_backtrader(
    series: BarSeries, fast: int = 10, slow: int = 30, cash: float = 1_000_000.0
) -> PeerResult:
    import backtrader as bt

    fills: list[tuple[int, float]] = []

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.fast_line = bt.indicators.SMA(self.data.close, period=fast)
            self.slow_line = bt.indicators.SMA(self.data.close, period=slow)
            self.decision = 0

        def next(self) -> None:
            f, s = self.fast_line, self.slow_line
            self.decision = 0
            if len(self) <= slow:
                return
            if f[0] > s[0] and f[-1] <= s[-1]:
                self.decision = 1
            elif f[0] < s[0] and f[-1] >= s[-1]:
                self.decision = -1

        def next_open(self) -> None:
            # cheat-on-open: sized and filled at this bar's open, decided at the previous close.
            if self.decision == 1 and not self.position:
                units = int(self.broker.getcash() // self.data.open[0])
                if units > 0:
                    self.buy(size=units)
            elif self.decision == -1 and self.position:
                self.close()

        def notify_order(self, order: bt.Order) -> None:
            if order.status == order.Completed:
                fills.append((len(self.data) - 1, float(order.executed.size)))

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    cerebro.broker.set_coo(True)
    cerebro.broker.set_checksubmit(False)
    cerebro.broker.setcash(cash)
    cerebro.adddata(bt.feeds.PandasData(dataname=to_frame(series)))
    cerebro.addstrategy(SmaCross)
    cerebro.run()
    trades: list[tuple[int, int, float]] = []
    for bar, size in fills:
        if size > 0:
            trades.append((bar, -1, size))
        else:
            entry_bar, _exit, quantity = trades[-1]
            trades[-1] = (entry_bar, bar, quantity)
    return PeerResult("backtrader", float(cerebro.broker.getvalue()), trades)


def vectorbt_signals(
    close: np.ndarray, fast_line: np.ndarray, slow_line: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The written-out crossing rule, shifted one bar so vectorbt fills it at the next open."""
    up = np.zeros(close.shape, bool)
    down = np.zeros(close.shape, bool)
    up[1:] = (fast_line[1:] > slow_line[1:]) & (fast_line[:-1] <= slow_line[:-1])
    down[1:] = (fast_line[1:] < slow_line[1:]) & (fast_line[:-1] >= slow_line[:-1])
    entries = np.zeros_like(up)
    exits = np.zeros_like(down)
    entries[1:] = up[:-1]
    exits[1:] = down[:-1]
    return entries, exits


def _vectorbt_portfolio(frame: pd.DataFrame, entries: np.ndarray, exits: np.ndarray, cash: float) -> Any:
    """The engine's terms: whole shares, all the cash, no fees, filled at the open."""
    import vectorbt as vbt

    return vbt.Portfolio.from_signals(
        frame.Close,
        entries,
        exits,
        price=frame.Open,
        init_cash=cash,
        size=np.inf,
        size_granularity=1,
        fees=0.0,
        freq="1min",
    )


def run_vectorbt(series: BarSeries, fast: int = 10, slow: int = 30, cash: float = 1_000_000.0) -> PeerResult:
    import vectorbt as vbt

    frame = to_frame(series)
    fast_line = vbt.MA.run(frame.Close, fast).ma.to_numpy()
    slow_line = vbt.MA.run(frame.Close, slow).ma.to_numpy()
    entries, exits = vectorbt_signals(series.close, fast_line, slow_line)
    portfolio = _vectorbt_portfolio(frame, entries, exits, cash)
    final = float(portfolio.final_value())
    records = portfolio.orders.values
    trades: list[tuple[int, int, float]] = []
    for bar, size, side in zip(
        records["idx"].tolist(), records["size"].tolist(), records["side"].tolist(), strict=True
    ):
        if side == 0:
            trades.append((bar, -1, size))
        else:
            entry_bar, _exit, quantity = trades[-1]
            trades[-1] = (entry_bar, bar, quantity)
    return PeerResult("vectorbt", final, trades)


def vectorbt_sweep(
    series: BarSeries, fast_windows: list[int], slow_windows: list[int], cash: float = 1_000_000.0
) -> dict[tuple[int, int], float]:
    """vectorbt's broadcast sweep: one (bars x combinations) signal matrix through one from_signals call."""
    import vectorbt as vbt

    frame = to_frame(series)
    windows = sorted({*fast_windows, *slow_windows})
    lines = vbt.MA.run(frame.Close, windows).ma.to_numpy()
    column = {window: position for position, window in enumerate(windows)}
    combinations = [(f, s) for f in fast_windows for s in slow_windows if f < s]
    size = len(series)
    entries = np.zeros((size, len(combinations)), bool)
    exits = np.zeros((size, len(combinations)), bool)
    for position, (fast, slow) in enumerate(combinations):
        entry, exit_ = vectorbt_signals(series.close, lines[:, column[fast]], lines[:, column[slow]])
        entries[:, position] = entry
        exits[:, position] = exit_
    portfolio = _vectorbt_portfolio(frame, entries, exits, cash)
    finals = np.asarray(portfolio.final_value())
    return {combination: float(value) for combination, value in zip(combinations, finals, strict=True)}
