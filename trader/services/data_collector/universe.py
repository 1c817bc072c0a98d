"""The screener-driven universe: candidates ranked into the watchlist, on demand or by the scheduler.

`refresh` gathers candidates (Alpaca's most actives and movers when keys are set, scans over the
stored daily bars of every stored symbol up to now), ranks them (`trader.core.screener`), and makes
the watchlist exactly the ranked universe plus the symbols still held, so a symbol that left the
universe keeps its bars coming, and its strategies may still exit it, until its position is flat.
A source that fails is reported and skipped; the refresh works with what the others found.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trader.adapters.alpaca.screener import AlpacaScreener
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.marketdata.errors import ProviderError
from trader.core.market import Timeframe
from trader.core.screener import Candidate, ScanSettings, rank_universe, scan
from trader.services.data_collector.handlers import DataCollector, UnknownSymbolError

log = logging.getLogger("trader.services.data_collector.universe")
SCREENER_USER = "screener"
ALPACA_SOURCES = ("most_actives", "movers")


@dataclass
class UniverseBuilder:
    collector: DataCollector
    positions: PositionStore
    scans: ScanSettings
    sources: tuple[str, ...]
    cap: int
    pinned: tuple[str, ...] = ()
    alpaca: AlpacaScreener | None = None
    alpaca_top: int = 20
    last: dict[str, Any] = field(default_factory=dict)

    async def _alpaca_candidates(self, errors: dict[str, str]) -> list[Candidate]:
        found: list[Candidate] = []
        if self.alpaca is None:
            for source in ALPACA_SOURCES:
                if source in self.sources:
                    errors[source] = "needs ALPACA_API_KEY and ALPACA_SECRET_KEY"
            return found
        calls = {"most_actives": self.alpaca.most_actives, "movers": self.alpaca.movers}
        for source, call in calls.items():
            if source not in self.sources:
                continue
            try:
                found += [Candidate(symbol, source, score) for symbol, score in await call(self.alpaca_top)]
            except ProviderError as error:
                errors[source] = str(error)
                log.warning("screener source %s failed: %s", source, error)
        return found

    async def _scanned(self, at: datetime) -> list[Candidate]:
        wanted = [source for source in self.sources if source not in ALPACA_SOURCES]
        if not wanted:
            return []
        found: list[Candidate] = []
        for row in await self.collector.store.freshness():
            try:
                bars = await self.collector.series(
                    row.symbol,
                    Timeframe.DAY1,
                    start=None,
                    end=at,
                    limit=self.scans.bars_needed,
                    adjusted=True,
                )
            except UnknownSymbolError:
                continue
            found += scan(row.symbol, [bar for bar, _ in bars], self.scans, wanted)
        return found

    async def refresh(self) -> dict[str, Any]:
        at = self.collector.clock.now()
        errors: dict[str, str] = {}
        candidates = await self._alpaca_candidates(errors) + await self._scanned(at)
        held = {stored.symbol for stored in await self.positions.all() if stored.position.quantity}
        universe = rank_universe(candidates, cap=self.cap, pinned=self.pinned, held=held)
        wanted = [item.symbol for item in universe]
        watchlist = self.collector.watchlist
        before = set(await watchlist.symbols())
        added = await watchlist.add(wanted, added_by=SCREENER_USER)
        removed = []
        for symbol in sorted(before - set(wanted)):
            if await watchlist.remove(symbol):
                removed.append(symbol)
        self.last = {
            "refreshed_at": at.isoformat(),
            "universe": [item.as_dict() for item in universe],
            "added": added,
            "removed": removed,
            "candidates": len(candidates),
            "errors": errors,
        }
        log.info(
            "universe refreshed: %d symbols (%d added, %d removed, %d held outside the screen)",
            len(universe),
            len(added),
            len(removed),
            sum(1 for item in universe if item.reason == "held"),
        )
        return self.last
