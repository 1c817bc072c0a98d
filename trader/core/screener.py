"""The screener: candidates from several sources, ranked into a capped universe.

Sources are Alpaca's lists (most actives, top movers) and scans over stored daily bars: a gap of at
least N% between the last close and today's open, a relative volume (today's over the average of
the previous N days) of at least M, and a breakout (a close above the previous N days' high). Each
source ranks its own candidates; the universe is the best `cap` symbols by reciprocal-rank fusion
(the sum of 1/rank over the sources that found a symbol), so a symbol found by several sources
beats one found by one, and no source's units (shares, percent) are compared with another's.
Pinned symbols are always in; held symbols stay on the watchlist, outside the cap, until flat.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trader.core.market import Bar

GAP = "gap"
RELATIVE_VOLUME = "relative_volume"
BREAKOUT = "breakout"


@dataclass(frozen=True, slots=True)
class Candidate:
    symbol: str
    source: str
    score: float  # higher is stronger, in the source's own units
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ScanSettings:
    gap_percent: Decimal = Decimal(3)
    relative_volume: Decimal = Decimal(2)
    volume_bars: int = 20
    breakout_bars: int = 20

    @property
    def bars_needed(self) -> int:
        return max(self.volume_bars, self.breakout_bars) + 1


@dataclass(frozen=True, slots=True)
class RankedSymbol:
    symbol: str
    score: float
    sources: tuple[str, ...]
    reason: str  # pinned | screened | held

    def as_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "score": round(self.score, 6),
            "sources": list(self.sources),
            "reason": self.reason,
        }


def scan(symbol: str, bars: Sequence[Bar], settings: ScanSettings, sources: Iterable[str]) -> list[Candidate]:
    """The scans `symbol`'s daily bars (oldest first, ending at the last closed day) pass."""
    wanted = set(sources)
    if len(bars) < 2:
        return []
    last, previous = bars[-1], bars[-2]
    found = []
    if GAP in wanted and previous.close > 0:
        gap = (last.open / previous.close - 1) * 100
        if abs(gap) >= settings.gap_percent:
            found.append(Candidate(symbol, GAP, float(abs(gap)), f"gap {gap:.2f}%"))
    history = bars[:-1]
    if RELATIVE_VOLUME in wanted and len(history) >= settings.volume_bars:
        recent = history[-settings.volume_bars :]
        average = sum((bar.volume for bar in recent), Decimal(0)) / len(recent)
        if average > 0 and last.volume / average >= settings.relative_volume:
            ratio = last.volume / average
            found.append(Candidate(symbol, RELATIVE_VOLUME, float(ratio), f"volume x{ratio:.2f}"))
    if BREAKOUT in wanted and len(history) >= settings.breakout_bars:
        high = max(bar.high for bar in history[-settings.breakout_bars :])
        if last.close > high:
            margin = (last.close / high - 1) * 100
            found.append(
                Candidate(
                    symbol, BREAKOUT, float(margin), f"close above the {settings.breakout_bars}-day high"
                )
            )
    return found


def rank_universe(
    candidates: Iterable[Candidate], *, cap: int, pinned: Sequence[str] = (), held: Iterable[str] = ()
) -> list[RankedSymbol]:
    """Pinned symbols, then the best screened ones up to `cap` in all, then held ones not already in."""
    by_source: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_source.setdefault(candidate.source, []).append(candidate)
    scores: dict[str, float] = {}
    found_by: dict[str, set[str]] = {}
    for source, found in by_source.items():
        best: dict[str, Candidate] = {}
        for candidate in found:
            if candidate.symbol not in best or candidate.score > best[candidate.symbol].score:
                best[candidate.symbol] = candidate
        ordered = sorted(best.values(), key=lambda c: (-c.score, c.symbol))
        for rank, candidate in enumerate(ordered, start=1):
            scores[candidate.symbol] = scores.get(candidate.symbol, 0.0) + 1.0 / rank
            found_by.setdefault(candidate.symbol, set()).add(source)
    universe = [
        RankedSymbol(symbol, scores.get(symbol, 0.0), _sources(found_by, symbol), "pinned")
        for symbol in dict.fromkeys(pinned)
    ]
    chosen = {item.symbol for item in universe}
    for symbol in sorted(scores, key=lambda s: (-scores[s], s)):
        if len(universe) >= cap:
            break
        if symbol not in chosen:
            universe.append(RankedSymbol(symbol, scores[symbol], _sources(found_by, symbol), "screened"))
            chosen.add(symbol)
    for symbol in sorted(set(held) - chosen):
        universe.append(RankedSymbol(symbol, scores.get(symbol, 0.0), _sources(found_by, symbol), "held"))
    return universe


def _sources(found_by: Mapping[str, set[str]], symbol: str) -> tuple[str, ...]:
    return tuple(sorted(found_by.get(symbol, ())))
