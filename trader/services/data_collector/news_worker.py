"""The news worker: Alpaca's news stream live, and a REST catch-up that fills any gap.

Every article version is stored once (`NewsStore.record` skips versions it has). The stream
(alpaca-py's NewsDataStream, which reconnects by itself) delivers articles as they are published;
the catch-up asks the REST API, from a little before the newest stored article, for the watchlist's
news at start and then every `catch_up_seconds`, so an article published while the stream was down
is stored late rather than never. Failures are counted and shown in GET /news/status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from trader.adapters.alpaca.news import AlpacaNews
from trader.adapters.db.stores.market_data import WatchlistStore
from trader.adapters.db.stores.news import NewsStore
from trader.adapters.marketdata.errors import ProviderError
from trader.core.news import NewsItem
from trader.core.ports import Clock

log = logging.getLogger("trader.services.data_collector.news")
# Articles can reach the REST API a little after their creation time: ask again from this far back.
CATCH_UP_OVERLAP = timedelta(hours=1)


@dataclass
class NewsCollector:
    source: AlpacaNews
    store: NewsStore
    watchlist: WatchlistStore
    clock: Clock
    backfill_days: int
    catch_up_seconds: float = 300.0
    streamed: int = 0
    stored: int = 0
    catch_ups: int = 0
    last_catch_up_at: datetime | None = None
    last_error: str | None = None
    _stream: Any = field(default=None, repr=False)

    async def catch_up(self) -> int:
        """Ask the REST API for the watchlist's news since a little before the newest stored article."""
        now = self.clock.now()
        earliest = now - timedelta(days=self.backfill_days)
        newest = await self.store.newest_created_at()
        start = earliest if newest is None else max(earliest, newest - CATCH_UP_OVERLAP)
        symbols = await self.watchlist.symbols()
        if not symbols:
            return 0
        items = await self.source.history(symbols, start, now)
        stored = await self.store.record(items, now)
        self.stored += stored
        self.catch_ups += 1
        self.last_catch_up_at = now
        if stored:
            log.info("news catch-up stored %d new article versions since %s", stored, start.isoformat())
        return stored

    async def on_article(self, item: NewsItem) -> None:
        self.streamed += 1
        self.stored += await self.store.record([item], self.clock.now())

    async def run(self) -> None:
        self._stream = self.source.stream(self.on_article)
        # alpaca-py's stream runs its own reconnecting loop; `run()` would start a second event loop.
        streaming = asyncio.create_task(self._stream._run_forever(), name="news-stream")
        try:
            while True:
                try:
                    await self.catch_up()
                    self.last_error = None
                except ProviderError as error:
                    self.last_error = str(error)
                    log.warning("news catch-up failed: %s", error)
                await asyncio.sleep(self.catch_up_seconds)
        finally:
            with contextlib.suppress(Exception):
                await self._stream.stop_ws()
            streaming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await streaming

    async def health(self) -> str:
        """For /health: raises with the last catch-up error (the stream reconnects by itself)."""
        if self.last_error:
            raise RuntimeError(f"news catch-up failing: {self.last_error}")
        return f"{self.stored} article versions stored"

    def status(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "streamed": self.streamed,
            "stored": self.stored,
            "catch_ups": self.catch_ups,
            "last_catch_up_at": self.last_catch_up_at.isoformat() if self.last_catch_up_at else None,
            "rejected_by_reason": dict(self.source.rejected),
            "last_error": self.last_error,
        }
