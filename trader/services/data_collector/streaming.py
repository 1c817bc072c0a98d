"""The collector's side of a bar stream: what arrives is validated, stored and announced like any
provider answer, and after every (re)connection the bars missed meanwhile are backfilled by REST
from each symbol's newest stored bar (so nothing is lost; the publisher's cursors make sure nothing
is announced twice, and what closed too long ago is history, not a signal).

A minute bar arriving before its minute has closed by our clock (clocks differ a little) is held
and stored once it has. Daily bars from the stream are the provider's running total of the day: they
change until the close, and our daily bar is aggregated from the stored minute bars (as the
backtester builds it), so they are not stored; the newest one per symbol is shown in the status.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from trader.adapters.marketdata.errors import ProviderError
from trader.core.ports import FetchedBars
from trader.core.streams import BarKind, BarStream, StreamedBar, StreamRejection
from trader.core.validation import BarCandidate
from trader.services.data_collector.handlers import DataCollector

log = logging.getLogger("trader.services.data_collector")
# Rejected stream messages logged one by one before they are only counted (the status shows them all).
REJECTIONS_LOGGED = 50


class StreamFeed:
    def __init__(self, collector: DataCollector, stream: BarStream) -> None:
        self.collector = collector
        self.stream = stream
        self.provider = stream.name
        self.daily_bars: dict[str, BarCandidate] = {}
        self.backfills = 0
        self.last_backfill: dict[str, Any] = {}
        self._held: dict[tuple[str, datetime], BarCandidate] = {}
        self._backfill_task: asyncio.Task[None] | None = None
        self._rejections_logged = 0
        # The symbols whose gap (the time the stream was down) the REST backfill after the current
        # connection has filled; until then their streamed bars may sit after a hole.
        self._filled: set[str] = set()
        self._connection = 0
        self._unfilled = False
        if collector.publisher is not None:
            collector.publisher.coverage = self

    # ------------------------------------------------------------------ Coverage (for the publisher)

    def continuous(self, symbol: str) -> bool:
        return self.stream.status().healthy and symbol in self._filled

    def in_order(self, symbol: str) -> bool:
        return not self.stream.status().healthy or symbol in self._filled

    # ------------------------------------------------------------------ BarStreamSink

    async def stream_connected(self) -> None:
        # In its own task: the stream keeps reading (bars queue up in the socket otherwise), and a
        # backfill of many symbols takes a while at the provider's request rate.
        if self._backfill_task is not None and not self._backfill_task.done():
            self._backfill_task.cancel()
        self._filled = set()
        self._connection = self.stream.status().connections
        self._backfill_task = asyncio.create_task(self.backfill(), name="data_collector:stream_backfill")

    def retry_backfill(self) -> None:
        """Streaming, but the backfill after connecting failed for some symbol: try again."""
        running = self._backfill_task is not None and not self._backfill_task.done()
        if self.stream.status().healthy and self._unfilled and not running:
            self._backfill_task = asyncio.create_task(self.backfill(), name="data_collector:stream_backfill")

    async def stream_bars(self, bars: Sequence[StreamedBar]) -> None:
        now = self.collector.clock.now()
        minute: list[BarCandidate] = []
        for item in bars:
            if item.kind is BarKind.DAILY:
                self.daily_bars[item.candidate.symbol] = item.candidate
            elif item.candidate.timestamp + self.collector.base_timeframe.duration > now:
                self._held[(item.candidate.symbol, item.candidate.timestamp)] = item.candidate
            else:
                minute.append(item.candidate)
        if minute:
            await self._ingest(minute)

    def stream_rejected(self, reason: StreamRejection, message: str) -> None:
        collector = self.collector
        collector.rejected_by_source[(self.provider, reason.value)] += 1
        collector.totals.rejected += 1
        collector.totals.rejected_by_reason[reason.value] += 1
        if collector.metrics is not None:
            collector.metrics.bars_rejected.labels(reason.value).inc()
        self._rejections_logged += 1
        if self._rejections_logged <= REJECTIONS_LOGGED:
            log.warning("stream message rejected from %s (%s): %s", self.provider, reason.value, message)

    # ------------------------------------------------------------------ the collector's side

    async def _ingest(self, candidates: list[BarCandidate]) -> None:
        feed = self.stream.status().feed
        report = await self.collector.ingest(FetchedBars(self.provider, candidates, feed=feed))
        if report.rejected:
            log.warning("%d streamed bars rejected: %s", report.rejected, dict(report.rejected_by_reason))

    async def flush_held(self) -> None:
        """Store the held bars whose minute has closed by now."""
        now = self.collector.clock.now()
        due = [
            key
            for key, bar in self._held.items()
            if bar.timestamp + self.collector.base_timeframe.duration <= now
        ]
        if due:
            await self._ingest([self._held.pop(key) for key in due])

    async def backfill(self) -> None:
        """Fetch by REST what each watchlist symbol missed, from its newest stored bar to now.

        Whatever fails (the provider, the database, the bus: Redis restarting as the stream
        reconnects) leaves the symbol unfilled and the backfill is tried again at the next bar
        (`retry_backfill`): until a symbol's gap is filled its streamed bars wait for the tick, and
        a bar announced a minute late is history, so an unfilled symbol would never trade again."""
        try:
            await self._backfill()
        except Exception:
            self._unfilled = True
            log.exception("the REST backfill after the stream connected failed; retrying at the next bar")

    async def _backfill(self) -> None:
        collector = self.collector
        symbols = await collector.ensure_watchlist()
        start, end = collector.default_window()
        outcome: Counter[str] = Counter()
        for symbol in symbols:
            try:
                report = await collector.backfill_symbol(symbol, start, end, force=False)
            except ProviderError as error:
                outcome["failed"] += 1
                log.warning("backfill of %s after the stream connected failed: %s", symbol, error)
                continue
            except Exception as error:  # the database or the bus: retried at the next bar
                outcome["failed"] += 1
                log.warning(
                    "backfill of %s after the stream connected failed: %s: %s",
                    symbol,
                    type(error).__name__,
                    error,
                )
                continue
            outcome["stored"] += report.stored
            outcome["published"] += report.published
            if self._connection == self.stream.status().connections:
                # Its hole is filled: from now on its streamed bars are all there is, in order.
                self._filled.add(symbol)
                if collector.publisher is not None:
                    outcome["published"] += await collector.publisher.release([symbol])
        self._unfilled = bool(outcome["failed"])
        self.backfills += 1
        self.last_backfill = {"at": end.isoformat(), "symbols": len(symbols), **outcome}
        log.info("stream (re)connected: backfilled %d symbols by REST: %s", len(symbols), dict(outcome))

    async def wait_for_backfill(self) -> None:
        if self._backfill_task is not None:
            await asyncio.gather(self._backfill_task, return_exceptions=True)

    async def close(self) -> None:
        if self._backfill_task is not None:
            self._backfill_task.cancel()
            await asyncio.gather(self._backfill_task, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        now = self.collector.clock.now()
        return {
            **self.stream.status().as_dict(),
            "held_until_closed": len(self._held),
            "backfills": self.backfills,
            "last_backfill": self.last_backfill,
            "daily_bars_so_far": {
                symbol: {"close": format(bar.close, "f"), "volume": format(bar.volume, "f")}
                for symbol, bar in sorted(self.daily_bars.items())
            },
            "checked_at": now.isoformat(),
        }


def stream_is_down(feed: StreamFeed | None) -> bool:
    return feed is None or not feed.stream.status().healthy
