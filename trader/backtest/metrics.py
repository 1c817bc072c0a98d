"""Performance metrics of an equity curve and its trades."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from trader.core.money import to_cash

_NANOSECONDS_PER_DAY = 86_400 * 1_000_000_000
_TRADING_DAYS_PER_YEAR = 252
_SESSION_MINUTES = 390  # NYSE regular session, 09:30-16:00


@dataclass(frozen=True, slots=True)
class PerformanceMetrics:
    """Returns are fractions (0.1 = 10%); max_drawdown is a positive fraction of the peak."""

    initial_equity: Decimal
    final_equity: Decimal
    total_return: float
    annual_return: float
    sharpe_ratio: float
    sortino_ratio: float
    calmar_ratio: float
    max_drawdown: float
    win_rate: float
    profit_factor: float
    exposure: float
    trade_count: int
    closed_trade_count: int
    periods_per_year: float


def infer_periods_per_year(timestamps_ns: NDArray[np.int64]) -> float:
    """Bars per year from the median bar spacing: intraday bars count regular-session minutes only."""
    if timestamps_ns.size < 2:
        return float(_TRADING_DAYS_PER_YEAR)
    spacing_ns = float(np.median(np.diff(timestamps_ns)))
    if spacing_ns < _NANOSECONDS_PER_DAY:
        minutes = spacing_ns / 60e9
        return _TRADING_DAYS_PER_YEAR * _SESSION_MINUTES / minutes
    days = spacing_ns / _NANOSECONDS_PER_DAY
    if days < 1.5:
        return float(_TRADING_DAYS_PER_YEAR)
    return 365.25 / days


def max_drawdown(equity: NDArray[np.float64], initial: float) -> float:
    """Largest fall from a running peak (the initial equity counts as the first peak)."""
    if equity.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity)
    np.maximum(peaks, initial, out=peaks)
    np.divide(equity, peaks, out=peaks)
    return max(0.0, 1.0 - float(peaks.min()))


def compute_metrics(
    *,
    equity: NDArray[np.float64],
    initial_cash: float,
    trade_profit: NDArray[np.float64],
    exposure: float,
    periods_per_year: float,
    trade_count: int,
) -> PerformanceMetrics:
    final = float(equity[-1])
    total_return = final / initial_cash - 1.0
    years = equity.size / periods_per_year
    annual_return = -1.0
    if final > 0 and years > 0:
        # Compounded through logs: a few bars of a good run annualise to astronomically large numbers.
        growth = math.log(final / initial_cash) / years
        annual_return = math.expm1(growth) if growth < 700 else math.inf
    returns = np.empty(equity.size)
    returns[0] = equity[0] / initial_cash - 1.0
    returns[1:] = equity[1:] / equity[:-1] - 1.0
    scale = math.sqrt(periods_per_year)
    mean = float(returns.mean())
    deviation = float(returns.std(ddof=1)) if returns.size > 1 else 0.0
    sharpe = mean / deviation * scale if deviation > 0 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    sortino = mean / downside * scale if downside > 0 else math.nan
    drawdown = max_drawdown(equity, initial_cash)
    calmar = annual_return / drawdown if drawdown > 0 else math.nan
    wins = trade_profit[trade_profit > 0]
    losses = trade_profit[trade_profit < 0]
    closed = int(trade_profit.size)
    win_rate = wins.size / closed if closed else math.nan
    gross_loss = -float(losses.sum())
    profit_factor = math.nan
    if gross_loss > 0:
        profit_factor = float(wins.sum()) / gross_loss
    elif wins.size:
        profit_factor = math.inf
    return PerformanceMetrics(
        initial_equity=to_cash(initial_cash),
        final_equity=to_cash(final),
        total_return=total_return,
        annual_return=annual_return,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        calmar_ratio=calmar,
        max_drawdown=drawdown,
        win_rate=win_rate,
        profit_factor=profit_factor,
        exposure=exposure,
        trade_count=trade_count,
        closed_trade_count=closed,
        periods_per_year=periods_per_year,
    )
