"""The plain-numpy reference: SMA crossover with vectorised signals and a loop over trades only.

Written independently of trader.backtest (it shares no code with it) so that agreement means
something.
"""

from __future__ import annotations

import numpy as np


def run_reference(
    open_: np.ndarray, close: np.ndarray, fast: int = 10, slow: int = 30, cash: float = 1_000_000.0
) -> tuple[float, list[tuple[int, int, float]]]:
    size = close.size
    sums = np.cumsum(close)

    def moving_average(window: int) -> np.ndarray:
        line = np.full(size, np.nan)
        line[window - 1] = sums[window - 1] / window
        line[window:] = (sums[window:] - sums[:-window]) / window
        return line

    fast_line, slow_line = moving_average(fast), moving_average(slow)
    up = np.flatnonzero((fast_line[1:] > slow_line[1:]) & (fast_line[:-1] <= slow_line[:-1])) + 1
    down = np.flatnonzero((fast_line[1:] < slow_line[1:]) & (fast_line[:-1] >= slow_line[:-1])) + 1
    trades: list[tuple[int, int, float]] = []
    after = -1
    while True:
        position = np.searchsorted(up, after, side="right")
        if position == up.size or up[position] + 1 >= size:
            return cash, trades
        entry_bar = int(up[position]) + 1
        buy = float(open_[entry_bar])
        quantity = cash // buy
        cash -= quantity * buy
        position = np.searchsorted(down, entry_bar - 1, side="right")
        if position == down.size or down[position] + 1 >= size:
            trades.append((entry_bar, -1, quantity))
            return cash + quantity * float(close[-1]), trades
        exit_bar = int(down[position]) + 1
        cash += quantity * float(open_[exit_bar])
        trades.append((entry_bar, exit_bar, quantity))
        after = exit_bar - 1
