"""The embedded default's provider: real daily US equity bars from the PyPI sample-data packages.

bokeh-sampledata (AAPL, MSFT, IBM, GOOG 2000-2013, with split/dividend factors) is preferred for
the symbols it has; the bytetheory S&P 500 set (2009-08..2010-08) serves the others. Only bars
that have closed by the clock's now are served, so a simulated clock never sees the future.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Collection, Sequence
from datetime import datetime

from trader.adapters.marketdata.errors import SymbolNotFoundError
from trader.adapters.replay.feed import bar_close_at
from trader.adapters.replay.sample_data import load_bokeh_bars, load_sp500_bars
from trader.core.market import Bar, Timeframe
from trader.core.ports import Clock, FetchedBars
from trader.core.sessions import MarketCalendar

PROVIDER = "replay"
BOKEH_SYMBOLS = frozenset({"AAPL", "MSFT", "IBM", "GOOG", "FB"})
log = logging.getLogger(__name__)


def load_sample_bars(calendar: MarketCalendar, symbols: Collection[str]) -> dict[str, list[Bar]]:
    """Validated daily bars per symbol, oldest first (blocking: file reads; run it in a thread)."""
    wanted = set(symbols)
    from_bokeh = wanted & BOKEH_SYMBOLS
    by_symbol: dict[str, list[Bar]] = {}
    batches = []
    if from_bokeh:
        batches.append(load_bokeh_bars(calendar, from_bokeh))
    if wanted - from_bokeh:
        batches.append(load_sp500_bars(calendar, wanted - from_bokeh))
    for batch in batches:
        for rejected in batch.rejected:
            log.warning(
                "sample bar rejected (%s): %s", rejected.rejection.reason.value, rejected.rejection.message
            )
        for bar in batch.accepted:
            by_symbol.setdefault(bar.symbol, []).append(bar)
    for bars in by_symbol.values():
        bars.sort(key=lambda bar: bar.timestamp)
    return by_symbol


class SampleDataProvider:
    """A `MarketDataProvider` over the sample bars (daily only)."""

    def __init__(self, calendar: MarketCalendar, clock: Clock) -> None:
        self._calendar = calendar
        self._clock = clock
        self._bars: dict[str, list[Bar]] = {}
        self._starts: dict[str, list[datetime]] = {}
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return PROVIDER

    async def load(self, symbols: Collection[str]) -> dict[str, list[Bar]]:
        """Load (once per symbol) and return the bars of `symbols` that the sample data has."""
        async with self._lock:
            missing = [symbol for symbol in symbols if symbol not in self._bars]
            if missing:
                loaded = await asyncio.to_thread(load_sample_bars, self._calendar, missing)
                for symbol in missing:
                    bars = loaded.get(symbol, [])
                    self._bars[symbol] = bars
                    self._starts[symbol] = [bar.timestamp for bar in bars]
        return {symbol: self._bars[symbol] for symbol in symbols if self._bars.get(symbol)}

    async def fetch_bars(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> FetchedBars:
        if timeframe is not Timeframe.DAY1:
            raise ValueError(f"the sample data holds daily bars only, not {timeframe.value}")
        bars = (await self.load([symbol])).get(symbol)
        if not bars:
            raise SymbolNotFoundError(PROVIDER, f"symbol {symbol} is not in the sample data")
        starts = self._starts[symbol]
        window: Sequence[Bar] = bars[bisect.bisect_left(starts, start) : bisect.bisect_left(starts, end)]
        now = self._clock.now()
        closed = tuple(bar for bar in window if bar_close_at(bar, self._calendar) <= now)
        return FetchedBars(PROVIDER, closed)
