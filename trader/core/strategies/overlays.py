"""The indicators a strategy decides on, as lines to draw beside its bars.

A chart of a symbol shows what the strategy saw: the two averages of a crossover, the bands of a
Bollinger strategy, the channel of a breakout, and an oscillator (RSI, MACD, momentum) in its own
pane with the thresholds the strategy compares it against. Composite strategies show their
members' lines; a type that declares nothing here (a user's own, a model) draws none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.core.indicators import macd, roc, rolling_max, rolling_min, rsi, sma
from trader.core.strategies.base import Strategy
from trader.core.strategies.bollinger import BollingerStrategy
from trader.core.strategies.donchian_breakout import DonchianBreakout
from trader.core.strategies.macd_crossover import MacdCrossover
from trader.core.strategies.momentum import Momentum
from trader.core.strategies.rsi_reversion import RsiReversion
from trader.core.strategies.series import BarSeries
from trader.core.strategies.sma_crossover import SmaCrossover

FloatArray = NDArray[np.float64]
PRICE_PANE = "price"
OSCILLATOR_PANE = "oscillator"


@dataclass(frozen=True, slots=True)
class Overlay:
    """One line over the bars (NaN where the indicator is still warming up)."""

    name: str
    values: FloatArray
    pane: str = PRICE_PANE
    levels: tuple[float, ...] = ()


def _sma_crossover(strategy: SmaCrossover, bars: BarSeries) -> list[Overlay]:
    return [
        Overlay(f"SMA {strategy.fast_window}", sma(bars.close, strategy.fast_window)),
        Overlay(f"SMA {strategy.slow_window}", sma(bars.close, strategy.slow_window)),
    ]


def _bollinger(strategy: BollingerStrategy, bars: BarSeries) -> list[Overlay]:
    bands = strategy.bands(bars)
    label = f"BB {strategy.window}, {strategy.deviations:g}σ"
    return [
        Overlay(f"{label} upper", bands.upper),
        Overlay(f"{label} middle", bands.middle),
        Overlay(f"{label} lower", bands.lower),
    ]


def _donchian(strategy: DonchianBreakout, bars: BarSeries) -> list[Overlay]:
    # Shifted by one bar, as the strategy compares a close with the channel before it.
    upper = np.full(len(bars), np.nan)
    lower = np.full(len(bars), np.nan)
    upper[1:] = rolling_max(bars.high, strategy.entry_window)[:-1]
    lower[1:] = rolling_min(bars.low, strategy.exit_window)[:-1]
    return [
        Overlay(f"Donchian high {strategy.entry_window}", upper),
        Overlay(f"Donchian low {strategy.exit_window}", lower),
    ]


def _macd(strategy: MacdCrossover, bars: BarSeries) -> list[Overlay]:
    lines = macd(bars.close, strategy.fast_window, strategy.slow_window, strategy.signal_window)
    return [
        Overlay("MACD", lines.macd, OSCILLATOR_PANE, (0.0,)),
        Overlay(f"MACD signal {strategy.signal_window}", lines.signal, OSCILLATOR_PANE),
    ]


def _momentum(strategy: Momentum, bars: BarSeries) -> list[Overlay]:
    levels = (strategy.entry_percent, strategy.exit_percent)
    return [Overlay(f"ROC {strategy.window} %", roc(bars.close, strategy.window), OSCILLATOR_PANE, levels)]


def _rsi(strategy: RsiReversion, bars: BarSeries) -> list[Overlay]:
    levels = (strategy.oversold, strategy.overbought)
    return [Overlay(f"RSI {strategy.window}", rsi(bars.close, strategy.window), OSCILLATOR_PANE, levels)]


_DRAWN_BY_TYPE: list[tuple[type, Callable[..., list[Overlay]]]] = [
    (SmaCrossover, _sma_crossover),
    (BollingerStrategy, _bollinger),
    (DonchianBreakout, _donchian),
    (MacdCrossover, _macd),
    (Momentum, _momentum),
    (RsiReversion, _rsi),
]


def _members(strategy: object) -> list[Strategy]:
    """The strategies a composite (ensemble, regime filter, confirmation) is built from."""
    if not dataclasses.is_dataclass(strategy):
        return []
    found: list[Strategy] = []
    for field in dataclasses.fields(strategy):
        value = getattr(strategy, field.name)
        candidates = value if isinstance(value, tuple) else (value,)
        found.extend(item for item in candidates if hasattr(item, "generate") and hasattr(item, "name"))
    return found


def overlays_of(strategy: Strategy, bars: BarSeries) -> list[Overlay]:
    """The lines `strategy` decides on, computed over `bars`; names are unique."""
    for kind, draw in _DRAWN_BY_TYPE:
        if isinstance(strategy, kind):
            return draw(strategy, bars)
    result: list[Overlay] = []
    seen: set[str] = set()
    for member in _members(strategy):
        for overlay in overlays_of(member, bars):
            if overlay.name not in seen:
                seen.add(overlay.name)
                result.append(overlay)
    return result
