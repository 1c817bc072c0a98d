"""Look-ahead check: a signal at bar t must not change when the bars after t are removed.

The strategy runs once on the whole history and again on truncated histories (the first k
bars, for several k); every bar whose entry or exit signal differs between the two runs is a
violation, because the full run could only have known it from the future.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trader.core.strategies.base import Strategy
from trader.core.strategies.series import BarSeries

MAX_REPORTED_VIOLATIONS = 100


@dataclass(frozen=True, slots=True)
class LookaheadViolation:
    truncated_length: int
    bar_index: int
    signal: str  # "entries" | "exits"
    full_history_value: bool
    truncated_value: bool


@dataclass(frozen=True, slots=True)
class LookaheadReport:
    strategy_name: str
    checked_lengths: tuple[int, ...]
    violations: tuple[LookaheadViolation, ...]

    @property
    def passed(self) -> bool:
        return not self.violations


def default_truncation_lengths(total: int, minimum: int, count: int = 24) -> tuple[int, ...]:
    """`count` lengths spread over [minimum, total - 1], plus the few right after the minimum."""
    if total <= minimum + 1:
        return ()
    spread = np.linspace(minimum, total - 1, num=min(count, total - minimum), dtype=np.int64)
    early = range(minimum, min(minimum + 3, total))
    return tuple(sorted({int(length) for length in spread} | set(early)))


def check_lookahead(
    strategy: Strategy, bars: BarSeries, lengths: Sequence[int] | None = None
) -> LookaheadReport:
    full = strategy.generate(bars)
    if lengths is None:
        lengths = default_truncation_lengths(len(bars), minimum=max(2, strategy.lookback_bars // 2))
    violations: list[LookaheadViolation] = []
    for length in lengths:
        if not 1 <= length <= len(bars):
            raise ValueError(f"truncation length {length} outside 1..{len(bars)}")
        truncated = strategy.generate(bars.head(length))
        for signal, full_values, truncated_values in (
            ("entries", full.entries[:length], truncated.entries),
            ("exits", full.exits[:length], truncated.exits),
        ):
            if truncated_values.shape != full_values.shape:
                raise ValueError(
                    f"{strategy.name} returned {truncated_values.shape[0]} signals for {length} bars"
                )
            for index in np.flatnonzero(full_values != truncated_values).tolist():
                if len(violations) < MAX_REPORTED_VIOLATIONS:
                    violations.append(
                        LookaheadViolation(
                            truncated_length=length,
                            bar_index=index,
                            signal=signal,
                            full_history_value=bool(full_values[index]),
                            truncated_value=bool(truncated_values[index]),
                        )
                    )
    return LookaheadReport(strategy.name, tuple(lengths), tuple(violations))
