"""Announcing live bars: every closed bar of every live timeframe exactly once, and only while fresh.

The stored base bars are the truth; what has been announced is a cursor per (symbol, timeframe) in
`bar_cursors` (the start of the newest bar decided about), so a restart neither repeats nor skips.
A release walks each series' buckets after its cursor that have ended:

- a bucket is decided once it is complete: its last base bar (or a later one) is stored, or it
  ended `settle` ago (a minute without trades has no bar; a stream may be a moment late);
- a complete bucket with bars is announced as `BarClosed` (the base bar itself, or the bucket
  aggregated from the base bars with `aggregate_bars`: anchored at the open, cut at early closes;
  the daily bar at the session's close); an empty one is passed;
- a bucket that ended more than `freshness` ago is history: the system could not act on it in time
  (a start, a reconnect, an outage), so it stays stored as lookback but is not announced; the skip
  is logged with the bars' ages.

Base bars go out before the buckets they complete, one timeframe after the other. The cursor is
stored after the events are published: a crash in between announces those bars again after the
restart (consumers tolerate a repeat: the engine finds its stored signal), never loses them.

A stored bar behind its cursor that a later answer changes (an updated bar from the stream, a REST
answer that differs) is announced as `BarCorrected`, with every published bucket containing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from trader.adapters.db.stores.bar_cursors import BarCursorStore, SeriesKey
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.core.aggregation import aggregate_bars
from trader.core.buckets import bucket_bounds, bucket_containing, last_closed_bucket, next_bucket_start
from trader.core.events import Event, bar_closed_event, bar_corrected_event
from trader.core.market import Bar, Timeframe
from trader.core.ports import Clock, MessageBus
from trader.core.sessions import MarketCalendar
from trader.core.topics import BARS
from trader.services.common.metrics import MarketDataMetrics

log = logging.getLogger("trader.services.data_collector")
_INSTANT = timedelta(microseconds=1)
# A series this far behind is caught up through history first; this bounds one release's walk.
MAX_BUCKETS_PER_RELEASE = 2000


class Coverage(Protocol):
    """What the live source can vouch for (the stream feed; without a stream, only fetches count)."""

    def continuous(self, symbol: str) -> bool:
        """Every bar of `symbol` reaches the store within `settle` of its close, right now."""
        ...

    def in_order(self, symbol: str) -> bool:
        """A stored bar means every earlier bar of its series is stored (false while a gap is open)."""
        ...


class FetchesOnly:
    def continuous(self, symbol: str) -> bool:
        return False

    def in_order(self, symbol: str) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class PublishingRules:
    base: Timeframe
    higher: tuple[Timeframe, ...]
    freshness: timedelta
    settle: timedelta

    def __post_init__(self) -> None:
        for timeframe in self.higher:
            if not self.base.is_intraday or (
                timeframe.is_intraday
                and (timeframe.duration <= self.base.duration or timeframe.duration % self.base.duration)
            ):
                raise ValueError(f"{timeframe.value} bars cannot be built from {self.base.value} bars")
        if self.freshness <= self.settle:
            raise ValueError("the freshness bound must be longer than the settle time")

    @property
    def timeframes(self) -> tuple[Timeframe, ...]:
        return (self.base, *self.higher)


@dataclass(slots=True)
class TimeframeTally:
    published: int = 0
    history: int = 0
    corrections: int = 0
    last_bar_at: datetime | None = None
    last_closed_at: datetime | None = None

    def as_dict(self, now: datetime) -> dict[str, Any]:
        closed = self.last_closed_at
        return {
            "published": self.published,
            "history": self.history,
            "corrections": self.corrections,
            "last_bar_at": self.last_bar_at.isoformat() if self.last_bar_at else None,
            "last_bar_age_seconds": round((now - closed).total_seconds(), 1) if closed else None,
        }


@dataclass(slots=True)
class _Release:
    events: list[Event] = field(default_factory=list)
    announced: list[tuple[Timeframe, Bar, datetime]] = field(default_factory=list)
    advanced: dict[SeriesKey, datetime] = field(default_factory=dict)


class BarPublisher:
    def __init__(
        self,
        *,
        store: MarketDataStore,
        cursors: BarCursorStore,
        bus: MessageBus,
        calendar: MarketCalendar,
        clock: Clock,
        rules: PublishingRules,
    ) -> None:
        self.store = store
        self.cursor_store = cursors
        self.bus = bus
        self.calendar = calendar
        self.clock = clock
        self.rules = rules
        self.tallies = {timeframe: TimeframeTally() for timeframe in rules.timeframes}
        self.metrics: MarketDataMetrics | None = None
        # Held while a batch is compared with the stored rows and written, and while releasing, so a
        # bar is never announced between "is it behind the cursor?" and its correction being stored.
        self.lock = asyncio.Lock()
        self.coverage: Coverage = FetchesOnly()
        self._cursors: dict[SeriesKey, datetime] = {}
        # Per symbol: every bar the provider had up to this moment is stored (a successful fetch).
        self._gathered: dict[str, datetime] = {}

    async def start(self) -> None:
        self._cursors = await self.cursor_store.load()

    def cursor(self, symbol: str, timeframe: Timeframe) -> datetime | None:
        return self._cursors.get((symbol, timeframe))

    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        return {timeframe.value: tally.as_dict(now) for timeframe, tally in self.tallies.items()}

    def note_gathered(self, symbol: str, through: datetime) -> None:
        """A fetch stored everything the provider had for `symbol` up to `through`."""
        held = self._gathered.get(symbol)
        self._gathered[symbol] = through if held is None else max(held, through)

    def _complete(self, symbol: str, end: datetime, bars: Sequence[Bar], now: datetime) -> bool:
        """Has the bucket ending at `end` all the bars it will get? Its last base bar (or a later
        one) is stored while bars arrive in order, or the source covered `settle` past its end (a
        minute without trades has no bar) — by a fetch, or by a stream delivering continuously."""
        if self.coverage.in_order(symbol) and any(
            bar.timestamp >= end - self.rules.base.duration for bar in bars
        ):
            return True
        known = now if self.coverage.continuous(symbol) else self._gathered.get(symbol)
        return known is not None and known >= end + self.rules.settle

    async def release(self, symbols: Sequence[str]) -> int:
        """Announce what is due for these symbols; the number of bars announced."""
        async with self.lock:
            now = self.clock.now()
            release = _Release()
            for timeframe in self.rules.timeframes:
                await self._pass_history(timeframe, symbols, now, release)
                await self._announce_due(timeframe, symbols, now, release)
            if release.events:
                await self.bus.publish_many(BARS, release.events)
                for timeframe, bar, closed_at in release.announced:
                    self._count_published(timeframe, bar, closed_at)
            if release.advanced:
                await self.cursor_store.advance(release.advanced, now)
                self._cursors.update(release.advanced)
            return len(release.events)

    def _current(self, key: SeriesKey, release: _Release) -> datetime | None:
        return release.advanced.get(key, self._cursors.get(key))

    async def _pass_history(
        self, timeframe: Timeframe, symbols: Sequence[str], now: datetime, release: _Release
    ) -> None:
        """Move every series whose cursor is behind the freshness bound up to it, counting the stored
        bars passed over (they are lookback now, not signals)."""
        mark = last_closed_bucket(self.calendar, timeframe, now - self.rules.freshness)
        behind = {
            symbol: cursor
            for symbol in symbols
            if (cursor := self._current((symbol, timeframe), release)) is None or cursor < mark
        }
        if not behind:
            return
        lower = {
            symbol: self._end(timeframe, cursor) - _INSTANT if cursor else None
            for symbol, cursor in behind.items()
        }
        passed = await self.store.counts_between(self.rules.base, lower, self._end(timeframe, mark))
        for symbol in behind:
            release.advanced[(symbol, timeframe)] = mark
        if passed:
            why = f"closed more than {self.rules.freshness.total_seconds():.0f} s ago"
            self._log_history(timeframe, passed, now, why)

    def _log_history(
        self, timeframe: Timeframe, passed: dict[str, tuple[int, datetime, datetime]], now: datetime, why: str
    ) -> None:
        bars = sum(count for count, _, _ in passed.values())
        newest = max(latest for _, _, latest in passed.values())
        oldest = min(earliest for _, earliest, _ in passed.values())
        newest_age = (now - self._end(self.rules.base, newest)).total_seconds()
        oldest_age = (now - self._end(self.rules.base, oldest)).total_seconds()
        log.info(
            "history, not signals: %d stored %s bars of %d symbols inside %s bars that %s "
            "are lookback only (ages %.0f s to %.0f s)",
            bars,
            self.rules.base.value,
            len(passed),
            timeframe.value,
            why,
            newest_age,
            oldest_age,
        )
        for symbol, (count, earliest, latest) in sorted(passed.items()):
            log.debug(
                "history: %s %s: %d bars %s..%s not announced (closed %.0f s ago at the newest)",
                symbol,
                timeframe.value,
                count,
                earliest.isoformat(),
                latest.isoformat(),
                (now - self._end(self.rules.base, latest)).total_seconds(),
            )
        self.tallies[timeframe].history += bars
        if self.metrics is not None:
            self.metrics.bars_history.labels(timeframe.value).inc(bars)

    def _end(self, timeframe: Timeframe, start: datetime) -> datetime:
        return bucket_bounds(self.calendar, timeframe, start)[1]

    def _due(
        self, timeframe: Timeframe, symbols: Sequence[str], now: datetime, release: _Release
    ) -> dict[str, list[datetime]]:
        """Per symbol, the starts of the buckets after its cursor that have ended by `now`."""
        due: dict[str, list[datetime]] = {}
        for symbol in symbols:
            cursor = self._current((symbol, timeframe), release)
            if cursor is None:
                continue
            starts: list[datetime] = []
            start = next_bucket_start(self.calendar, timeframe, cursor)
            while self._end(timeframe, start) <= now and len(starts) < MAX_BUCKETS_PER_RELEASE:
                starts.append(start)
                start = next_bucket_start(self.calendar, timeframe, start)
            if starts:
                due[symbol] = starts
        return due

    async def _announce_due(
        self, timeframe: Timeframe, symbols: Sequence[str], now: datetime, release: _Release
    ) -> None:
        due = self._due(timeframe, symbols, now, release)
        if not due:
            return
        earliest = min(starts[0] for starts in due.values())
        stored = await self.store.bars_of(sorted(due), self.rules.base, earliest, now)
        for symbol, starts in due.items():
            bars = stored[symbol]
            for start in starts:
                end = self._end(timeframe, start)
                if not self._complete(symbol, end, bars, now):
                    break
                inside = [bar for bar in bars if start <= bar.timestamp < end]
                if inside:
                    announced = (
                        inside[0]
                        if timeframe is self.rules.base
                        else aggregate_bars(inside, timeframe, self.calendar)[0]
                    )
                    release.events.append(bar_closed_event(announced, now))
                    release.announced.append((timeframe, announced, end))
                release.advanced[(symbol, timeframe)] = start

    def _count_published(self, timeframe: Timeframe, bar: Bar, closed_at: datetime) -> None:
        tally = self.tallies[timeframe]
        tally.published += 1
        if tally.last_closed_at is None or closed_at >= tally.last_closed_at:
            tally.last_bar_at, tally.last_closed_at = bar.timestamp, closed_at
        if self.metrics is not None:
            self.metrics.bars_published.labels(timeframe.value).inc()

    async def behind_cursor(self, bars: Sequence[Bar]) -> list[tuple[Bar, Decimal]]:
        """Look at the bars of a batch about to be stored that are behind their cursor (their time was
        decided already): return those that change a stored bar, each with the close it replaces,
        and count those new to the store as history (they came too late to be announced). Call under
        `lock`, before the batch is written."""
        base = self.rules.base
        behind: dict[str, list[Bar]] = defaultdict(list)
        for bar in bars:
            cursor = self._cursors.get((bar.symbol, base))
            if bar.timeframe is base and cursor is not None and bar.timestamp <= cursor:
                behind[bar.symbol].append(bar)
        changed: list[tuple[Bar, Decimal]] = []
        late: dict[str, tuple[int, datetime, datetime]] = {}
        for symbol, group in behind.items():
            first, last = min(bar.timestamp for bar in group), max(bar.timestamp for bar in group)
            stored = {
                bar.timestamp: bar
                for bar in await self.store.bars(symbol, start=first, end=last + _INSTANT, timeframe=base)
            }
            new = [bar.timestamp for bar in group if bar.timestamp not in stored]
            if new:
                late[symbol] = (len(new), min(new), max(new))
            changed.extend(
                (bar, before.close)
                for bar in group
                if (before := stored.get(bar.timestamp)) is not None and _values(before) != _values(bar)
            )
        if late:
            self._log_history(base, late, self.clock.now(), "arrived after their time was decided")
        return changed

    async def announce_corrections(self, corrected: Sequence[tuple[Bar, Decimal]]) -> int:
        """Announce stored corrections: the base bars, and every announced bucket that contains one."""
        if not corrected:
            return 0
        now = self.clock.now()
        changed: list[tuple[Bar, Decimal | None]] = list(corrected)
        buckets = sorted(
            {
                (timeframe.duration, bar.symbol, start, timeframe)
                for bar, _ in corrected
                for timeframe in self.rules.higher
                if self._announced(
                    bar.symbol, timeframe, start := bucket_containing(self.calendar, timeframe, bar.timestamp)
                )
            }
        )
        for _, symbol, start, timeframe in buckets:
            rows = await self.store.bars(
                symbol, start=start, end=self._end(timeframe, start), timeframe=self.rules.base
            )
            changed.append((aggregate_bars(rows, timeframe, self.calendar)[0], None))
        await self.bus.publish_many(
            BARS, [bar_corrected_event(bar, now, previous) for bar, previous in changed]
        )
        for bar, _ in changed:
            self.tallies[bar.timeframe].corrections += 1
            if self.metrics is not None:
                self.metrics.bar_corrections.labels(bar.timeframe.value).inc()
        log.info(
            "announced %d corrections of bars already published (%d base bars)", len(changed), len(corrected)
        )
        return len(changed)

    def _announced(self, symbol: str, timeframe: Timeframe, start: datetime) -> bool:
        cursor = self._cursors.get((symbol, timeframe))
        return cursor is not None and start <= cursor


def _values(bar: Bar) -> tuple[Decimal, ...]:
    return (bar.open, bar.high, bar.low, bar.close, bar.volume)
