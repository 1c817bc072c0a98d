"""Data collector use cases: validate and store bars, publish `BarClosed`, serve series and status.

Every bar passes the validator before storage; a rejected bar is counted and logged with its
reason and never stored. Stored bars are raw with their adjustment factor beside them; reads are
split-adjusted by default, `adjusted=False` gives the raw prices fills and books use.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from trader.adapters.db.stores.market_data import MarketDataStore, StoredBar, WatchlistStore
from trader.adapters.marketdata.cache import LatestBarCache
from trader.adapters.marketdata.errors import ProviderError
from trader.adapters.replay.feed import bar_close_at
from trader.core.adjustments import adjust_bar
from trader.core.aggregation import aggregate_bars
from trader.core.events import bar_closed_event
from trader.core.market import Bar, Timeframe
from trader.core.ports import Clock, FetchedBars, MarketDataProvider, MessageBus
from trader.core.release import batches_by_source
from trader.core.sessions import MarketCalendar, Session
from trader.core.topics import BARS
from trader.core.validation import RejectionReason, find_gaps, validate_batch
from trader.services.common.metrics import MarketDataMetrics
from trader.services.data_collector.publisher import BarPublisher

log = logging.getLogger("trader.services.data_collector")
# Rejections logged one by one per batch before the rest are summarised in one line.
REJECTIONS_LOGGED_PER_BATCH = 20
STORE_CHUNK = 50_000
AGGREGATE_CACHE_SIZE = 64


class UnknownSymbolError(LookupError):
    """Neither on the watchlist nor in the store (HTTP 404)."""


class BadRequestError(ValueError):
    """A request that cannot be served as asked (HTTP 422); the message says what to change."""


@dataclass(slots=True)
class IngestReport:
    fetched: int = 0
    stored: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    duplicate: int = 0
    published: int = 0
    # Bars whose interval had not closed yet (a provider serving the forming bar): not stored.
    forming: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)

    def add(self, other: IngestReport) -> None:
        self.fetched += other.fetched
        self.stored += other.stored
        self.inserted += other.inserted
        self.updated += other.updated
        self.rejected += other.rejected
        self.duplicate += other.duplicate
        self.published += other.published
        self.forming += other.forming
        self.rejected_by_reason.update(other.rejected_by_reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fetched": self.fetched,
            "stored": self.stored,
            "inserted": self.inserted,
            "updated": self.updated,
            "rejected": self.rejected,
            "duplicate": self.duplicate,
            "published": self.published,
            "forming": self.forming,
            "rejected_by_reason": dict(self.rejected_by_reason),
        }


@dataclass(slots=True)
class CollectJob:
    job_id: str
    symbols: list[str]
    timeframe: Timeframe
    start: datetime
    end: datetime
    created_at: datetime
    status: str = "running"  # running | succeeded | failed
    symbols_done: int = 0
    finished_at: datetime | None = None
    report: IngestReport = field(default_factory=IngestReport)
    per_symbol: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        total = len(self.symbols)
        return {
            "job_id": self.job_id,
            "status": self.status,
            "symbols": self.symbols,
            "timeframe": self.timeframe.value,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "progress": {
                "symbols_done": self.symbols_done,
                "symbols_total": total,
                "fraction": round(self.symbols_done / total, 4) if total else 1.0,
            },
            **self.report.as_dict(),
            "per_symbol": self.per_symbol,
            "errors": self.errors,
        }


ProgressCallback = Callable[[str, IngestReport | None, str | None], Awaitable[None] | None]


class DataCollector:
    def __init__(
        self,
        *,
        store: MarketDataStore,
        watchlist: WatchlistStore,
        provider: MarketDataProvider,
        calendar: MarketCalendar,
        clock: Clock,
        bus: MessageBus,
        cache: LatestBarCache,
        base_timeframe: Timeframe,
        default_watchlist: Sequence[str] = (),
        backfill_days: int = 5,
        job_threshold: int = 5000,
    ) -> None:
        self.store = store
        self.watchlist = watchlist
        self.provider = provider
        self.calendar = calendar
        self.clock = clock
        self.bus = bus
        self.cache = cache
        self.base_timeframe = base_timeframe
        self._default_watchlist = list(default_watchlist)
        self._backfill_days = backfill_days
        self._job_threshold = job_threshold
        self.totals = IngestReport()
        self.rejected_by_source: Counter[tuple[str, str]] = Counter()
        self.last_ingest_at: datetime | None = None
        self.jobs: OrderedDict[str, CollectJob] = OrderedDict()
        self._job_tasks: set[asyncio.Task[None]] = set()
        self._aggregates: OrderedDict[tuple[Any, ...], list[Bar]] = OrderedDict()
        self.metrics: MarketDataMetrics | None = None
        # Live sources announce through the publisher (cursors, every timeframe, fresh bars only);
        # without one (the replay) a bar that moves its series forward is announced as it is stored.
        self.publisher: BarPublisher | None = None
        # False in a process that is not the collector service (`trader data`): it stores, and the
        # service announces (its cursors would not know what another process announced).
        self.announces = True

    def attach_metrics(self, metrics: MarketDataMetrics) -> None:
        """Count stored and rejected bars on the service's registry (every reason exposed, at 0 too)."""
        self.metrics = metrics
        for reason in RejectionReason:
            if reason is not RejectionReason.DUPLICATE_TIMESTAMP:
                metrics.bars_rejected.labels(reason.value)
        self.refresh_credit_gauges()

    def refresh_credit_gauges(self) -> None:
        status = getattr(self.provider, "status", None)
        if self.metrics is None or not callable(status):
            return
        for entry in status():
            credits = entry.get("credits")
            if isinstance(credits, dict):
                self.metrics.provider_credits_remaining.labels(str(entry["name"])).set(
                    float(credits["remaining"])
                )

    # ------------------------------------------------------------------ watchlist

    async def ensure_watchlist(self) -> list[str]:
        """Seed the watchlist from settings the first time; afterwards the table is the truth."""
        if self._default_watchlist and await self.watchlist.is_empty():
            await self.watchlist.add(self._default_watchlist, added_by="settings")
        return await self.watchlist.symbols()

    async def require_known(self, symbol: str) -> None:
        if symbol in await self.watchlist.symbols() or await self.store.has_symbol(symbol):
            return
        raise UnknownSymbolError(f"unknown symbol {symbol}: not on the watchlist and no stored bars")

    # ------------------------------------------------------------------ ingest

    def _close_at(self, bar: Bar) -> datetime:
        return bar_close_at(bar, self.calendar)

    async def ingest(
        self, fetched: FetchedBars, *, publish: bool = True, gathered: tuple[str, datetime] | None = None
    ) -> IngestReport:
        """Validate, store (upsert), cache and publish one provider answer; `gathered` says it holds
        everything the provider had for that symbol up to that moment (a fetch, not a stream)."""
        report = IngestReport(fetched=len(fetched.candidates))
        ordered = sorted(fetched.candidates, key=lambda candidate: (candidate.symbol, candidate.timestamp))
        validation = validate_batch(ordered, self.calendar)
        for index, rejected in enumerate(validation.rejected):
            reason = rejected.rejection.reason
            if reason is RejectionReason.DUPLICATE_TIMESTAMP:
                report.duplicate += 1
                continue
            report.rejected += 1
            report.rejected_by_reason[reason.value] += 1
            self.rejected_by_source[(fetched.provider, reason.value)] += 1
            if index < REJECTIONS_LOGGED_PER_BATCH:
                log.warning(
                    "bar rejected from %s (%s): %s",
                    fetched.provider,
                    reason.value,
                    rejected.rejection.message,
                )
        if report.rejected > REJECTIONS_LOGGED_PER_BATCH:
            log.warning(
                "%d bars rejected from %s in one batch: %s",
                report.rejected,
                fetched.provider,
                dict(report.rejected_by_reason),
            )
        now = self.clock.now()
        accepted = [bar for bar in validation.accepted if self._close_at(bar) <= now]
        report.forming = len(validation.accepted) - len(accepted)
        if report.forming:
            log.debug("%d bars from %s have not closed yet; not stored", report.forming, fetched.provider)
        if accepted:
            await self._store(
                accepted,
                fetched.feed,
                report,
                publish=publish,
                carry_back=fetched.factors_current,
                gathered=gathered,
            )
        self.totals.add(report)
        self.last_ingest_at = now
        if self.metrics is not None:
            self.metrics.bars_ingested.labels(fetched.provider).inc(report.stored)
            for reason_name, count in report.rejected_by_reason.items():
                self.metrics.bars_rejected.labels(reason_name).inc(count)
            self.refresh_credit_gauges()
        return report

    async def _store(
        self,
        bars: list[Bar],
        feed: str | None,
        report: IngestReport,
        *,
        publish: bool,
        carry_back: bool = False,
        gathered: tuple[str, datetime] | None = None,
    ) -> None:
        latest_before = await self.store.latest_of([(bar.symbol, bar.timeframe) for bar in bars])
        if carry_back:
            # Collections overlap the newest stored bar by one; if its factor moved, a split or
            # dividend happened since, and the older stored bars must follow or it looks like a crash.
            for bar in bars:
                if bar.timestamp == latest_before[(bar.symbol, bar.timeframe)]:
                    ratio = await self.store.carry_back_adjustment(bar)
                    if ratio is not None:
                        log.warning(
                            "%s: corporate action since %s; stored factors scaled by %s",
                            bar.symbol,
                            bar.timestamp.isoformat(),
                            ratio,
                        )
        publish = publish and self.announces
        if self.publisher is not None:
            await self._store_live(self.publisher, bars, feed, report, publish=publish, gathered=gathered)
            await self.cache.remember(
                [
                    bar
                    for bar in bars
                    if (held := latest_before[(bar.symbol, bar.timeframe)]) is None or bar.timestamp > held
                ]
            )
            return
        await self._write(bars, feed, report)
        # Bars that move a series forward are news; a backfilled hole or a re-ingest is not.
        fresh = [
            bar
            for bar in bars
            if (held := latest_before[(bar.symbol, bar.timeframe)]) is None or bar.timestamp > held
        ]
        await self.cache.remember(fresh)
        if fresh:
            self._aggregates.clear()
        if publish:
            now = self.clock.now()
            closed = [bar_closed_event(bar, now) for bar in fresh if self._close_at(bar) <= now]
            if closed:
                # One call for the batch: on Redis one round trip instead of one per bar.
                report.published += len(await self.bus.publish_many(BARS, closed))

    async def _write(self, bars: list[Bar], feed: str | None, report: IngestReport) -> None:
        for start in range(0, len(bars), STORE_CHUNK):
            result = await self.store.upsert_bars(bars[start : start + STORE_CHUNK], feed=feed)
            report.inserted += result.inserted
            report.updated += result.updated
            report.stored += result.written
            report.duplicate += result.unchanged

    async def _store_live(
        self,
        publisher: BarPublisher,
        bars: list[Bar],
        feed: str | None,
        report: IngestReport,
        *,
        publish: bool,
        gathered: tuple[str, datetime] | None,
    ) -> None:
        """Store under the publisher's lock (a bar announced meanwhile would miss its correction),
        announce corrections of announced bars, then release whatever the batch completed."""
        async with publisher.lock:
            corrected = await publisher.behind_cursor(bars)
            await self._write(bars, feed, report)
            if gathered is not None:
                publisher.note_gathered(*gathered)
            if publish:
                report.published += await publisher.announce_corrections(corrected)
        self._aggregates.clear()
        if publish:
            report.published += await publisher.release(sorted({bar.symbol for bar in bars}))

    async def store_released(self, bars: Sequence[Bar], *, publish: bool) -> IngestReport:
        """Store bars released by a replay (already validated data still goes through the validator)."""
        report = IngestReport()
        for batch in batches_by_source(bars):
            report.add(await self.ingest(FetchedBars(batch[0].source, batch), publish=publish))
        return report

    # ------------------------------------------------------------------ backfill

    def default_window(self) -> tuple[datetime, datetime]:
        end = self.clock.now()
        return end - timedelta(days=self._backfill_days), end

    def expected_bars(self, symbols: Sequence[str], start: datetime, end: datetime) -> int:
        sessions = self._sessions(start, end)
        per_session = (
            1
            if not self.base_timeframe.is_intraday
            else 390 // max(int(self.base_timeframe.duration.total_seconds() // 60), 1)
        )
        return len(symbols) * len(sessions) * per_session

    def should_run_as_job(self, symbols: Sequence[str], start: datetime, end: datetime) -> bool:
        return self.expected_bars(symbols, start, end) > self._job_threshold

    async def backfill_symbol(
        self, symbol: str, start: datetime, end: datetime, *, force: bool
    ) -> IngestReport:
        if not force:
            latest = await self.store.latest_at(symbol, self.base_timeframe)
            if latest is not None and latest >= start:
                # Start AT the newest stored bar: the one-bar overlap is how a corporate action
                # since the last collection is noticed (its factor changes); re-storing it is a no-op.
                # Providers stamp daily bars anywhere from midnight to the open, hence the margin.
                start = latest if self.base_timeframe.is_intraday else latest - timedelta(hours=12)
        if start >= end:
            return IngestReport()
        asked_at = self.clock.now()
        fetched = await self.provider.fetch_bars(symbol, self.base_timeframe, start, end)
        # What the provider had when asked: a bar that settled while it answered was not looked for.
        gathered = (symbol, min(end, asked_at))
        report = await self.ingest(fetched, gathered=gathered)
        if self.publisher is not None and not report.stored and not report.duplicate:
            # Nothing new (no trades): still, the provider was asked, so empty minutes can settle.
            self.publisher.note_gathered(*gathered)
            report.published += await self.publisher.release([symbol])
        return report

    async def backfill(
        self,
        symbols: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        force: bool,
        on_symbol: ProgressCallback | None = None,
    ) -> tuple[IngestReport, dict[str, dict[str, Any]], dict[str, str]]:
        """Fetch and store every symbol; one symbol failing does not stop the others."""
        total = IngestReport()
        per_symbol: dict[str, dict[str, Any]] = {}
        errors: dict[str, str] = {}
        for symbol in symbols:
            report: IngestReport | None = None
            error_text: str | None = None
            try:
                report = await self.backfill_symbol(symbol, start, end, force=force)
            except ProviderError as error:
                error_text = str(error)
                errors[symbol] = error_text
                log.warning("backfill of %s failed: %s", symbol, error)
            if report is not None:
                total.add(report)
                per_symbol[symbol] = report.as_dict()
            if on_symbol is not None:
                outcome = on_symbol(symbol, report, error_text)
                if outcome is not None:
                    await outcome
        return total, per_symbol, errors

    def start_job(self, symbols: list[str], start: datetime, end: datetime, *, force: bool) -> CollectJob:
        job = CollectJob(
            job_id=uuid.uuid4().hex[:12],
            symbols=symbols,
            timeframe=self.base_timeframe,
            start=start,
            end=end,
            created_at=self.clock.now(),
        )
        self.jobs[job.job_id] = job
        while len(self.jobs) > 50:
            self.jobs.popitem(last=False)

        def record(symbol: str, report: IngestReport | None, error_text: str | None) -> None:
            job.symbols_done += 1
            if report is not None:
                job.report.add(report)
                job.per_symbol[symbol] = report.as_dict()
            if error_text is not None:
                job.errors[symbol] = error_text

        async def run() -> None:
            try:
                await self.backfill(symbols, start, end, force=force, on_symbol=record)
                job.status = "succeeded"
            except Exception:
                job.status = "failed"
                log.exception("backfill job %s failed", job.job_id)
            finally:
                job.finished_at = self.clock.now()
                log.info("backfill job %s %s: %s", job.job_id, job.status, job.report.as_dict())

        task = asyncio.create_task(run(), name=f"data_collector:backfill:{job.job_id}")
        self._job_tasks.add(task)
        task.add_done_callback(self._job_tasks.discard)
        return job

    async def cancel_jobs(self) -> None:
        for task in list(self._job_tasks):
            task.cancel()
        await asyncio.gather(*self._job_tasks, return_exceptions=True)

    # ------------------------------------------------------------------ reads

    def _sessions(self, start: datetime, end: datetime) -> Sequence[Session]:
        if end <= start:
            return []
        return self.calendar.sessions_between(start.date(), end.date())

    async def series(
        self,
        symbol: str,
        timeframe: Timeframe,
        *,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        adjusted: bool,
    ) -> list[tuple[Bar, str | None]]:
        """Bars of one symbol: stored ones at the base timeframe, aggregated along sessions above it."""
        await self.require_known(symbol)
        if timeframe == self.base_timeframe:
            stored = await self._stored(symbol, start, end, limit)
            return [(adjust_bar(item.bar) if adjusted else item.bar, item.feed) for item in stored]
        if not self.base_timeframe.is_intraday or (
            timeframe.is_intraday and timeframe.duration % self.base_timeframe.duration
        ):
            raise BadRequestError(
                f"{timeframe.value} bars cannot be built from the stored {self.base_timeframe.value} bars; "
                f"use {self.base_timeframe.value} or a multiple of it"
            )
        bars = await self._aggregated(symbol, timeframe, start, end, limit)
        return [(adjust_bar(bar) if adjusted else bar, None) for bar in bars]

    async def _stored(
        self, symbol: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[StoredBar]:
        if start is None:
            # Without a start, the newest `limit` bars (returned oldest first).
            newest = await self.store.stored_bars(
                symbol, timeframe=self.base_timeframe, end=end, limit=limit, newest_first=True
            )
            return newest[::-1]
        return await self.store.stored_bars(
            symbol, timeframe=self.base_timeframe, start=start, end=end, limit=limit
        )

    async def _aggregated(
        self, symbol: str, timeframe: Timeframe, start: datetime | None, end: datetime | None, limit: int
    ) -> list[Bar]:
        latest = await self.store.latest_at(symbol, self.base_timeframe)
        key = (symbol, timeframe, start, end, limit, latest)
        cached = self._aggregates.get(key)
        if cached is not None:
            self._aggregates.move_to_end(key)
            return cached
        if start is None:
            ratio = 390 if not timeframe.is_intraday else timeframe.duration // self.base_timeframe.duration
            base = [item.bar for item in await self._stored(symbol, None, end, (limit + 1) * int(ratio))]
            result = aggregate_bars(base, timeframe, self.calendar)[-limit:]
        else:
            base = await self.store.bars(symbol, start=start, end=end, timeframe=self.base_timeframe)
            result = aggregate_bars(base, timeframe, self.calendar)[:limit]
        self._aggregates[key] = result
        while len(self._aggregates) > AGGREGATE_CACHE_SIZE:
            self._aggregates.popitem(last=False)
        return result

    async def data_status(self, gap_sessions: int) -> list[dict[str, Any]]:
        now = self.clock.now()
        result = []
        for summary in await self.store.summaries():
            latest_bars = await self.store.bars(
                summary.symbol, timeframe=summary.timeframe, limit=1, newest_first=True
            )
            latest_bar = latest_bars[0] if latest_bars else None
            closed_at = self._close_at(latest_bar) if latest_bar else summary.latest_at
            last_session = self.calendar.session_for(summary.latest_at.date())
            gaps: dict[str, Any] = {"sessions_checked": 0, "missing_bars": 0, "missing_sessions": []}
            if last_session is not None and gap_sessions > 0:
                sessions = [
                    session
                    for session in self.calendar.sessions_between(
                        (summary.latest_at - timedelta(days=gap_sessions * 2 + 7)).date(),
                        last_session.session_date,
                    )
                    if session.open_at >= summary.first_at or session.close_at > summary.first_at
                ][-gap_sessions:]
                if sessions:
                    stamps = await self.store.timestamps(
                        summary.symbol, summary.timeframe, sessions[0].open_at, sessions[-1].close_at
                    )
                    report = find_gaps(stamps, sessions, summary.timeframe)
                    missing = [moment for moment in report.missing_at if moment <= summary.latest_at]
                    gaps = {
                        "sessions_checked": len(sessions),
                        "expected_bars": report.expected_count,
                        "missing_bars": len(missing),
                        "missing_sessions": [day.isoformat() for day in report.missing_sessions],
                        "first_missing": [moment.isoformat() for moment in missing[:10]],
                    }
            result.append(
                {
                    "symbol": summary.symbol,
                    "timeframe": summary.timeframe.value,
                    "first_bar_at": summary.first_at.isoformat(),
                    "latest_bar_at": summary.latest_at.isoformat(),
                    "latest_close": format(latest_bar.close, "f") if latest_bar else None,
                    "latest_closed_at": closed_at.isoformat(),
                    "age_seconds": round((now - closed_at).total_seconds(), 1),
                    "bar_count": summary.bar_count,
                    "gaps": gaps,
                }
            )
        return result

    def rejection_summary(self) -> dict[str, dict[str, int]]:
        summary: dict[str, dict[str, int]] = {}
        for (source, reason), count in sorted(self.rejected_by_source.items()):
            summary.setdefault(source, {})[reason] = count
        return summary
