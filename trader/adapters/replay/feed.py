"""Replay recorded bars against a clock: each bar is released once its interval has closed.

This is the embedded market-data source: with a `SimulatedClock` running at, say, 600x, a day
of minute bars (or a year of daily bars) plays back as if the market were live, and nothing
downstream can see a bar before its close (no look-ahead).
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime

from trader.core.market import Bar
from trader.core.ports import Clock
from trader.core.sessions import MarketCalendar, bucket_end


def bar_close_at(bar: Bar, calendar: MarketCalendar) -> datetime:
    """When a bar is complete: the session close for a daily bar (early closes included), else the end
    of its bucket, cut at the close."""
    session = (
        calendar.session_for(bar.timestamp)
        if bar.timeframe.is_intraday
        else calendar.session_for(bar.timestamp.date())
    )
    if session is None:
        raise ValueError(
            f"{bar.symbol} bar at {bar.timestamp.isoformat()} is outside every session; validate first"
        )
    return bucket_end(session, bar.timestamp, bar.timeframe)


class BarReplay:
    """Bars ordered by close time; `released_until(now)` hands out each bar exactly once."""

    def __init__(self, bars: Iterable[Bar], calendar: MarketCalendar) -> None:
        keyed = sorted(
            ((bar_close_at(bar, calendar), bar.symbol, bar) for bar in bars),
            key=lambda item: (item[0], item[1]),
        )
        self._close_ats = [item[0] for item in keyed]
        self._bars = [item[2] for item in keyed]
        self._position = 0

    def __len__(self) -> int:
        return len(self._bars)

    @property
    def remaining(self) -> int:
        return len(self._bars) - self._position

    def next_close_at(self) -> datetime | None:
        """When the next unreleased bar completes, None when the replay is exhausted."""
        return self._close_ats[self._position] if self._position < len(self._bars) else None

    def released_until(self, now: datetime) -> Sequence[Bar]:
        """The bars that closed at or before `now` and were not handed out yet, in close order."""
        end = bisect.bisect_right(self._close_ats, now, lo=self._position)
        released = self._bars[self._position : end]
        self._position = end
        return released

    async def stream(self, clock: Clock) -> AsyncIterator[Sequence[Bar]]:
        """Yield each group of bars closing together, sleeping on the clock in between."""
        while (moment := self.next_close_at()) is not None:
            await clock.sleep_until(moment)
            # One close time per group even when the clock has run ahead (a slow start, a resume):
            # downstream, a session's bars are judged as that session, never merged with the next.
            released = self.released_until(moment)
            if released:
                yield released
