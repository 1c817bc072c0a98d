"""What data retention must never delete: the bars the enabled strategies and the models still need.

`market_data` holds base bars (1-minute live, daily on the replay); a strategy reads its lookback in
its own timeframe, so a daily strategy on 1-minute bars needs its lookback times a session of
minutes. Model retraining reads the newest `MODEL_TRAINING_MAX_BARS` stored bars of each symbol it
trains on. Each need says why, so a clean-up can tell the operator what it kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trader.core.market import Timeframe

# A regular NYSE session (09:30-16:00); early closes are shorter, so this never keeps too little.
SESSION_MINUTES = 390


def base_bars_per_bar(timeframe: Timeframe, base: Timeframe) -> int:
    """How many base bars one bar of `timeframe` is built from."""
    if timeframe is base or base is Timeframe.DAY1:
        # On daily base bars an intraday strategy has no bars of its own; it reads daily ones.
        return 1
    base_minutes = base.duration.total_seconds() / 60
    if timeframe is Timeframe.DAY1:
        return math.ceil(SESSION_MINUTES / base_minutes)
    return max(1, math.ceil(timeframe.duration / base.duration))


@dataclass(frozen=True, slots=True)
class BarNeed:
    """`base_bars` newest base bars of `symbol` are needed (None: every bar, the need is unknown)."""

    symbol: str
    base_bars: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class KeepRule:
    """The most any need asks of one symbol, with every reason."""

    symbol: str
    base_bars: int | None
    reasons: tuple[str, ...]


def strategy_needs(
    name: str, symbols: Sequence[str], timeframe: Timeframe, lookback_bars: int, base: Timeframe
) -> list[BarNeed]:
    """A strategy's lookback plus the bar being built, in base bars."""
    per_bar = base_bars_per_bar(timeframe, base)
    bars = (lookback_bars + 1) * per_bar
    in_base = f" = {bars} {base.value} bars" if per_bar > 1 else ""
    reason = f"strategy {name}: lookback {lookback_bars} + 1 {timeframe.value} bars{in_base}"
    return [BarNeed(symbol, bars, reason) for symbol in symbols]


def unknown_strategy_needs(name: str, symbols: Sequence[str], problem: str) -> list[BarNeed]:
    """A configuration whose strategy cannot be built: its lookback is unknown, so nothing goes."""
    return [
        BarNeed(symbol, None, f"strategy {name}: lookback unknown ({problem}), every bar kept")
        for symbol in symbols
    ]


def training_needs(symbols: Sequence[str], max_bars: int) -> list[BarNeed]:
    return [BarNeed(symbol, max_bars, f"model training: newest {max_bars} bars") for symbol in symbols]


def keep_rules(needs: Iterable[BarNeed]) -> dict[str, KeepRule]:
    """One rule per symbol: the largest need (an unknown one keeps everything), all reasons."""
    bars: dict[str, int | None] = {}
    reasons: dict[str, list[str]] = {}
    for need in needs:
        reasons.setdefault(need.symbol, [])
        if need.reason not in reasons[need.symbol]:
            reasons[need.symbol].append(need.reason)
        if need.symbol not in bars:
            bars[need.symbol] = need.base_bars
            continue
        current = bars[need.symbol]
        if current is None or need.base_bars is None:
            bars[need.symbol] = None
        else:
            bars[need.symbol] = max(current, need.base_bars)
    return {symbol: KeepRule(symbol, bars[symbol], tuple(reasons[symbol])) for symbol in sorted(bars)}
