"""The signal a strategy gives at a bar's close, as the live strategy engine emits it.

The strategy engine (one closed bar at a time) and the backtester that runs through the risk
manager both call `closing_signal` on the same lookback window, so they emit the same direction
and the same strength (rounded to the six places a stored signal keeps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from trader.core.strategies.base import SignalDirection, Strategy, evaluate_latest
from trader.core.strategies.series import BarSeries
from trader.core.strategies.strength import latest_strength

if TYPE_CHECKING:
    from trader.core.llm.context import Holding
    from trader.core.market import Bar

STRENGTH_PLACES = 6


@dataclass(frozen=True, slots=True)
class ClosingSignal:
    direction: SignalDirection
    strength: Decimal
    # Protective levels for an entry (the llm strategy gives them); None: the strategy gives none.
    stop_price: Decimal | None = None
    target_price: Decimal | None = None


def closing_signal(strategy: Strategy, series: BarSeries) -> ClosingSignal | None:
    """The last bar's signal, None when it is flat. `series` ends at the bar just closed and holds at
    least the strategy's lookback (the caller waits for the data otherwise)."""
    latest = evaluate_latest(strategy, series)
    if latest.direction is SignalDirection.FLAT:
        return None
    strength = Decimal(str(round(latest_strength(strategy, series), STRENGTH_PLACES)))
    return ClosingSignal(latest.direction, strength)


@runtime_checkable
class ClosingSignalSource(Protocol):
    """A strategy decided bar by bar rather than vectorised (the llm strategy): given the raw bars
    up to the one just closed, the position and the decision moment, the signal or None."""

    @property
    def name(self) -> str: ...

    @property
    def lookback_bars(self) -> int: ...

    def closing_signal_at(
        self, bars: Sequence[Bar], holding: Holding, decided_at: datetime
    ) -> ClosingSignal | None: ...
