"""The bars a configuration reads: its own timeframe, built the way the collector announces them.

`market_data` holds the base timeframe (1day in the replay, 1min live). A configuration of the base
timeframe reads stored rows as they are; one of a higher timeframe (5min .. 1h, 1day on minute data)
reads the stored base bars aggregated with `aggregate_bars` along the sessions (anchored at the open,
cut at early closes), exactly as the collector built the bar it announced and as the backtester builds
its bars from the same rows. So a daily strategy on live minute data sees the daily bars it would see
in replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from trader.adapters.db.stores.market_data import MarketDataStore
from trader.core.aggregation import aggregate_bars
from trader.core.buckets import bucket_bounds, buckets_back
from trader.core.market import Timeframe
from trader.core.sessions import MarketCalendar
from trader.core.strategies.series import BarSeries

_INSTANT = timedelta(microseconds=1)
# A window short of buckets (sessions or minutes without trades) is read further back this many times.
EXTENSIONS = 3


@dataclass(frozen=True, slots=True)
class WindowRequest:
    symbol: str
    timeframe: Timeframe
    bar_at: datetime  # the start of the newest bar of the window (the one being evaluated)
    count: int


class TimeframeWindows:
    def __init__(self, store: MarketDataStore, calendar: MarketCalendar, base: Timeframe) -> None:
        self.store = store
        self.calendar = calendar
        self.base = base

    async def series(self, requests: Sequence[WindowRequest]) -> list[BarSeries]:
        """For each request, its newest `count` bars up to and including `bar_at`, oldest first,
        adjusted (as `MarketDataStore.window_series` gives the base timeframe)."""
        result: list[BarSeries | None] = [None] * len(requests)
        stored = [index for index, request in enumerate(requests) if request.timeframe is self.base]
        windows = await self.store.window_series(
            [(requests[i].symbol, requests[i].bar_at + _INSTANT, requests[i].count) for i in stored]
        )
        for index, window in zip(stored, windows, strict=True):
            result[index] = window
        for index, request in enumerate(requests):
            if result[index] is None:
                result[index] = await self._aggregated(request)
        return [window for window in result if window is not None]

    async def _aggregated(self, request: WindowRequest) -> BarSeries:
        end = bucket_bounds(self.calendar, request.timeframe, request.bar_at)[1]
        wanted = request.count
        start = buckets_back(self.calendar, request.timeframe, request.bar_at, wanted)
        bars = aggregate_bars(
            await self.store.bars(request.symbol, start=start, end=end, timeframe=self.base),
            request.timeframe,
            self.calendar,
        )
        for _ in range(EXTENSIONS):
            if len(bars) >= wanted or not bars:
                break
            # Buckets without a bar (no trades) leave the window short: read as far back again.
            earlier_end = start
            start = buckets_back(self.calendar, request.timeframe, start, wanted)
            older = await self.store.bars(request.symbol, start=start, end=earlier_end, timeframe=self.base)
            bars = aggregate_bars(older, request.timeframe, self.calendar) + bars
        if not bars:
            return BarSeries.from_arrays(request.symbol, [], [], [], [], [], [])
        return BarSeries.from_bars(bars[-wanted:])
