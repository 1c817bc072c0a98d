"""The order in which bars released together (one session's close) are stored and announced.

The data collector ingests a released group one source at a time (in the order the sources first
appear in the group), each batch sorted by symbol and time, and announces the bars in that order;
the strategy engine and the simulated broker see them in that order, and so does the backtester
that replays the pipeline. Within a session the order decides which signal is judged first, so
it is one function, not two conventions.
"""

from __future__ import annotations

from collections.abc import Sequence

from trader.core.market import Bar


def batches_by_source(bars: Sequence[Bar]) -> list[list[Bar]]:
    """The bars split by source, sources in order of first appearance, bars in arrival order."""
    by_source: dict[str, list[Bar]] = {}
    for bar in bars:
        by_source.setdefault(bar.source, []).append(bar)
    return list(by_source.values())


def publication_order(bars: Sequence[Bar]) -> list[Bar]:
    """The order the collector announces a released group in: per source batch, by symbol and time."""
    ordered: list[Bar] = []
    for batch in batches_by_source(bars):
        ordered.extend(sorted(batch, key=lambda bar: (bar.symbol, bar.timestamp)))
    return ordered
