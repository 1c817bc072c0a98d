"""An ensemble that votes: long while at least `min_votes` members would be long.

Each member's entries and exits are turned into the position it would hold (long from an entry
until its next exit); the ensemble counts those positions bar by bar, enters when the count
reaches `min_votes` and exits when it falls below. A position state depends on the last signal,
however old, so the live window is `memory_multiple` times the longest member lookback: a member
whose last signal is older than that is read as flat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.core.strategies.base import Signals, Strategy
from trader.core.strategies.series import BarSeries

BoolArray = NDArray[np.bool_]


def position_state(signals: Signals) -> BoolArray:
    """True where a long-only follower of `signals` would hold a position after the bar's close."""
    clean = signals.without_conflicts()
    size = len(clean)
    changed = clean.entries | clean.exits
    index = np.where(changed, np.arange(size), -1)
    last = np.maximum.accumulate(index) if size else index
    state = np.zeros(size, dtype=np.bool_)
    known = last >= 0
    state[known] = clean.entries[last[known]]
    return state


def _edges(long: BoolArray) -> Signals:
    previous = np.zeros(long.shape, dtype=np.bool_)
    previous[1:] = long[:-1]
    return Signals(entries=long & ~previous, exits=~long & previous)


@dataclass(frozen=True, slots=True)
class Ensemble:
    members: tuple[Strategy, ...]
    min_votes: int = 0  # 0: a strict majority of the members
    memory_multiple: int = 3

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(self.members)}")
        if not 0 <= self.min_votes <= len(self.members):
            raise ValueError(f"min_votes must be in 0..{len(self.members)}, got {self.min_votes}")
        if self.memory_multiple < 1:
            raise ValueError(f"memory_multiple must be >= 1, got {self.memory_multiple}")

    @property
    def required_votes(self) -> int:
        return self.min_votes or len(self.members) // 2 + 1

    @property
    def name(self) -> str:
        return "ensemble"

    @property
    def lookback_bars(self) -> int:
        return max(member.lookback_bars for member in self.members) * self.memory_multiple

    def parameters(self) -> Mapping[str, object]:
        return {
            "members": [
                {"type": member.name, "parameters": dict(member.parameters())} for member in self.members
            ],
            "min_votes": self.min_votes,
            "memory_multiple": self.memory_multiple,
        }

    def votes(self, bars: BarSeries) -> NDArray[np.int64]:
        states = [position_state(member.generate(bars)) for member in self.members]
        counts: NDArray[np.int64] = np.sum(np.vstack(states), axis=0, dtype=np.int64)
        return counts

    def generate(self, bars: BarSeries) -> Signals:
        return _edges(self.votes(bars) >= self.required_votes)
