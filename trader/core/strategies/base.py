"""The strategy interface: bars up to t in, entry/exit signals per bar out.

A strategy is a pure function of history. The backtester calls `generate` once on the whole
history (vectorised); live evaluation calls the same `generate` on the last `lookback_bars`
bars and reads the last value (`evaluate_latest`). Because both paths run the same code, and
every signal at bar t may only use bars up to t (checked by `trader.core.lookahead`), backtest
and live agree by construction.

Signals are long-only intents decided at a bar's close: `entries[t]` means "be long from
here", `exits[t]` means "be flat from here". The fill model decides when that trades. A bar
that carries both is contradictory and counts as no signal.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from trader.core.strategies.series import BarSeries

BoolArray = NDArray[np.bool_]


class SignalDirection(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"
    FLAT = "flat"


@dataclass(frozen=True, slots=True, eq=False)
class Signals:
    entries: BoolArray
    exits: BoolArray

    def __post_init__(self) -> None:
        if self.entries.shape != self.exits.shape or self.entries.ndim != 1:
            raise ValueError(
                f"entries {self.entries.shape} and exits {self.exits.shape} must be equal 1-d shapes"
            )
        if self.entries.dtype != np.bool_ or self.exits.dtype != np.bool_:
            raise ValueError("signals must be boolean arrays")

    def __len__(self) -> int:
        return int(self.entries.shape[0])

    def direction_at(self, index: int) -> SignalDirection:
        entry, exit_ = bool(self.entries[index]), bool(self.exits[index])
        if entry and not exit_:
            return SignalDirection.BUY
        if exit_ and not entry:
            return SignalDirection.SELL
        return SignalDirection.FLAT

    def without_conflicts(self) -> Signals:
        """Bars with both an entry and an exit carry no signal."""
        both = self.entries & self.exits
        if not both.any():
            return self
        return Signals(entries=self.entries & ~both, exits=self.exits & ~both)


@runtime_checkable
class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def lookback_bars(self) -> int:
        """Bars of history a live evaluation passes in; enough for the signal at the last bar."""
        ...

    def parameters(self) -> Mapping[str, object]:
        """Parameter values, JSON-serialisable; they identify the run in its stamp."""
        ...

    def generate(self, bars: BarSeries) -> Signals:
        """Signals for every bar of `bars`; the value at t may depend on bars[0..t] only."""
        ...


@dataclass(frozen=True, slots=True)
class LatestSignal:
    strategy_name: str
    symbol: str
    bar_index: int
    direction: SignalDirection
    price: float


def evaluate_latest(strategy: Strategy, bars: BarSeries) -> LatestSignal:
    """The live path: run the strategy on its lookback window and read the signal of the last bar."""
    if len(bars) == 0:
        raise ValueError("no bars to evaluate")
    window = bars.tail(strategy.lookback_bars)
    signals = strategy.generate(window)
    if len(signals) != len(window):
        raise ValueError(f"{strategy.name} returned {len(signals)} signals for {len(window)} bars")
    last = len(window) - 1
    return LatestSignal(
        strategy_name=strategy.name,
        symbol=bars.symbol,
        bar_index=len(bars) - 1,
        direction=signals.direction_at(last),
        price=float(window.close[last]),
    )
