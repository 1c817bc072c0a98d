"""Strategies: the interface, the bar columns they read, and the built-ins."""

from __future__ import annotations

from trader.core.strategies.base import LatestSignal, SignalDirection, Signals, Strategy, evaluate_latest
from trader.core.strategies.bollinger_breakout import BollingerBreakout
from trader.core.strategies.bollinger_reversion import BollingerReversion
from trader.core.strategies.donchian_breakout import DonchianBreakout
from trader.core.strategies.macd_crossover import MacdCrossover
from trader.core.strategies.momentum import Momentum
from trader.core.strategies.rsi_reversion import RsiReversion
from trader.core.strategies.series import BarSeries
from trader.core.strategies.sma_crossover import SmaCrossover

BUILT_IN_STRATEGIES: tuple[type, ...] = (
    SmaCrossover,
    RsiReversion,
    MacdCrossover,
    BollingerReversion,
    DonchianBreakout,
    BollingerBreakout,
    Momentum,
)

__all__ = [
    "BUILT_IN_STRATEGIES",
    "BarSeries",
    "BollingerBreakout",
    "BollingerReversion",
    "DonchianBreakout",
    "LatestSignal",
    "MacdCrossover",
    "Momentum",
    "RsiReversion",
    "SignalDirection",
    "Signals",
    "SmaCrossover",
    "Strategy",
    "evaluate_latest",
]
