"""The collector's background loops.

Replay (embedded default): the sample bars of the watchlist are loaded once; those already closed
on `resources.clock` go into `market_data` (idempotent, no events: that is history), then each
later bar is stored and published as `BarClosed` when the clock passes its session close. The
loop sleeps on the clock between closes (a simulated, accelerated clock makes this fast), so it
costs no CPU while waiting, and nothing is stored before it closed (no look-ahead in the table).

Live (Twelve Data / Alpaca): with a bar stream (Alpaca's websocket) bars arrive as they close and
are stored and announced at once; a tick `settle` after each base-timeframe close then stores bars
that came early, polls REST for every watchlist symbol since its newest stored bar while the stream
is not streaming (and always without a stream, e.g. Twelve Data), and releases what the publisher
finds due (buckets whose last minute had no trades, the daily bar at the close). While the market is
closed it sleeps until the next open. Provider failures are logged and retried at the next bar.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from trader.adapters.marketdata.errors import ProviderError
from trader.adapters.marketdata.sample import SampleDataProvider
from trader.adapters.replay.feed import BarReplay
from trader.core.buckets import bucket_bounds, last_closed_bucket
from trader.core.sessions import bucket_start
from trader.services.data_collector.handlers import DataCollector
from trader.services.data_collector.streaming import StreamFeed, stream_is_down

log = logging.getLogger("trader.services.data_collector")
# Providers publish a minute bar a few seconds after it closes.
PUBLICATION_DELAY = timedelta(seconds=5)
HISTORY_CHUNK = 20_000
# A tick later than this is not caught up (the next poll fetches everything since the newest bar).
MAX_TICK_LAG = timedelta(minutes=5)
# Wall seconds before a tick that failed (database or bus down) is tried again.
TICK_RETRY_SECONDS = 1.0
TICK_RETRY_MOST_SECONDS = 30.0


async def run_replay(collector: DataCollector, sample: SampleDataProvider) -> None:
    symbols = await collector.ensure_watchlist()
    loaded = await sample.load(symbols)
    missing = sorted(set(symbols) - set(loaded))
    if missing:
        log.warning("no sample data for %s; they are not replayed", ", ".join(missing))
    replay = BarReplay([bar for bars in loaded.values() for bar in bars], collector.calendar)
    # The cut is logged as it was taken: storing the history takes wall time, during which the
    # accelerated clock moves on (hours of it), and the bars closing meanwhile are released live.
    cut = collector.clock.now()
    history = list(replay.released_until(cut))
    stored = 0
    for start in range(0, len(history), HISTORY_CHUNK):
        report = await collector.store_released(history[start : start + HISTORY_CHUNK], publish=False)
        stored += report.stored
    log.info(
        "replay: %d sample bars of %d symbols up to %s are in market_data (%d written now); %d to come",
        len(history),
        len(loaded),
        cut.isoformat(),
        stored,
        replay.remaining,
    )
    released = 0
    async for group in replay.stream(collector.clock):
        report = await collector.store_released(group, publish=True)
        released += report.published
    log.info("replay finished: %d bars released as BarClosed; the sample data ends here", released)


def _next_bar_close(collector: DataCollector, now: datetime) -> datetime:
    calendar = collector.calendar
    session = calendar.session_for(now)
    if session is None:
        opens_at = calendar.next_open(now)
        return opens_at + (
            collector.base_timeframe.duration if collector.base_timeframe.is_intraday else timedelta()
        )
    if not collector.base_timeframe.is_intraday:
        return session.close_at
    bucket = bucket_start(session, now, collector.base_timeframe)
    return min(bucket + collector.base_timeframe.duration, session.close_at)


async def run_live(
    collector: DataCollector, feed: StreamFeed | None = None, *, settle: timedelta = PUBLICATION_DELAY
) -> None:
    stream_task: asyncio.Task[None] | None = None
    handled: datetime | None = None
    retry_seconds = TICK_RETRY_SECONDS
    try:
        while True:
            symbols = await collector.ensure_watchlist()
            if feed is not None:
                await feed.stream.subscribe(symbols)
                stream_task = _keep_streaming(feed, stream_task)
            previous = handled
            handled = _next_tick(collector, handled, settle)
            await collector.clock.sleep_until(handled + settle)
            try:
                await _tick(collector, feed, settle)
                retry_seconds = TICK_RETRY_SECONDS
            except Exception:
                # The database or the bus failed (Redis restarting): try the same bar close again
                # soon. Waiting for the next bar would make this one a minute late, which is history
                # by then (DATA_FRESHNESS_SECONDS), never a signal. The wait doubles while it lasts.
                log.exception("collecting the bars of this minute failed; retrying in %.0f s", retry_seconds)
                await asyncio.sleep(retry_seconds)
                retry_seconds = min(retry_seconds * 2, TICK_RETRY_MOST_SECONDS)
                handled = previous
    finally:
        if stream_task is not None:
            stream_task.cancel()
            await asyncio.gather(stream_task, return_exceptions=True)
        if feed is not None:
            await feed.close()


def _next_tick(collector: DataCollector, handled: datetime | None, settle: timedelta) -> datetime:
    """The bar close the next tick is for: the one after the last handled, even if it has passed
    already (a slow tick must not skip a minute); at the start, the bar that closed last (collected
    at once, not a minute later); after a long pause, the next one from now."""
    now = collector.clock.now()
    if handled is not None:
        due = _next_bar_close(collector, handled)
    else:
        latest = last_closed_bucket(collector.calendar, collector.base_timeframe, now - settle)
        due = bucket_bounds(collector.calendar, collector.base_timeframe, latest)[1]
    if now - MAX_TICK_LAG <= due + settle <= now:
        return due
    return _next_bar_close(collector, now)


def _keep_streaming(feed: StreamFeed, task: asyncio.Task[None] | None) -> asyncio.Task[None]:
    if task is not None and not task.done():
        return task
    if task is not None and not task.cancelled() and task.exception() is not None:
        log.error(
            "the %s stream stopped on an error; restarting it", feed.stream.name, exc_info=task.exception()
        )
    return asyncio.create_task(feed.stream.run(feed), name=f"data_collector:{feed.stream.name}")


async def _tick(collector: DataCollector, feed: StreamFeed | None, settle: timedelta) -> None:
    started_at = collector.clock.now()
    symbols = await collector.ensure_watchlist()
    if feed is not None:
        await feed.flush_held()
        feed.retry_backfill()
    if stream_is_down(feed):
        await _poll(collector, symbols, settle, started_at)
    if collector.publisher is not None:
        await collector.publisher.release(symbols)


async def _poll(collector: DataCollector, symbols: list[str], settle: timedelta, end: datetime) -> None:
    session = collector.calendar.session_for(end - settle - timedelta(seconds=1))
    start = session.open_at if session else end - timedelta(days=1)
    for symbol in symbols:
        try:
            report = await collector.backfill_symbol(symbol, start, end, force=False)
        except ProviderError as error:
            log.warning("collecting %s failed: %s", symbol, error)
            continue
        if report.rejected:
            log.warning(
                "collecting %s: %d bars rejected %s",
                symbol,
                report.rejected,
                dict(report.rejected_by_reason),
            )
