"""The executor's account recorder: the broker's account into `account_snapshots`, and what the
broker says of each watched asset into `broker_assets`.

A reading is taken at start, after fills (the ORDERS topic, in its own consumer group, so the
executor's order handling is untouched), after the simulated broker applies bars (before the risk
manager is told the bars are applied, so it judges on a reading that includes them), and every
`interval` in the regular session (`idle_interval` outside it), on the service's clock and the
NYSE calendar. The broker's positions are read before and after the account: when both equal the
books (read after, in one statement), the reading is in step with the books (see core.account).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.account import AccountStore
from trader.adapters.db.stores.assets import BrokerAssetStore
from trader.adapters.db.tables import positions, watchlist
from trader.core.account import AccountSnapshot, snapshot_of
from trader.core.broker import Broker, BrokerAsset, BrokerError, InvalidAccountError
from trader.core.events import Event, OrderStatusChanged
from trader.core.ports import Clock, MessageBus
from trader.core.sessions import MarketCalendar
from trader.core.topics import ORDERS
from trader.services.common.consumers import consume

log = logging.getLogger(__name__)
alerts = logging.getLogger("trader.alerts")

ACCOUNT_GROUP = "trade_executor_account"
# A simulated clock may run thousands of times faster than the wall: however fast its minutes
# pass, periodic readings are at least this far apart in wall time (see `min_wall_gap_seconds`).
MIN_WALL_GAP_SECONDS = 1.0
ASSET_REFRESH = timedelta(hours=6)
ASSET_RETRY = timedelta(minutes=10)
AFTER_FILL_ATTEMPTS = 4
AFTER_FILL_RETRY_SECONDS = 0.25


class AccountUnreadError(RuntimeError):
    """The broker's account has not been read, or its last answer could not be used."""


class AccountRecorder:
    def __init__(
        self,
        *,
        broker: Broker,
        engine: AsyncEngine,
        clock: Clock,
        calendar: MarketCalendar,
        interval: timedelta = timedelta(seconds=60),
        idle_interval: timedelta = timedelta(seconds=240),
        default_symbols: Sequence[str] = (),
        min_wall_gap_seconds: float = MIN_WALL_GAP_SECONDS,
    ) -> None:
        self.broker = broker
        self.min_wall_gap_seconds = min_wall_gap_seconds
        self.store = AccountStore(engine)
        self.assets = BrokerAssetStore(engine)
        self._engine = engine
        self.clock = clock
        self.calendar = calendar
        self.interval = interval
        self.idle_interval = idle_interval
        self.default_symbols = tuple(default_symbols)
        self.last_snapshot: AccountSnapshot | None = None
        self.last_problem: str | None = None
        self._lock = asyncio.Lock()

    async def record(self, why: str) -> AccountSnapshot | None:
        """Read the account and store it; None (logged, flagged for the risk manager when the answer
        itself is unusable) when it could not be read."""
        async with self._lock:
            now = self.clock.now()
            try:
                before = await self.broker.list_positions()
                account = await self.broker.get_account()
                after = await self.broker.list_positions()
            except InvalidAccountError as error:
                self.last_problem = str(error)
                alerts.error("account snapshot (%s) refused: %s", why, error)
                await self.store.record_problem(str(error), now)
                return None
            except BrokerError as error:
                self.last_problem = f"{type(error).__name__}: {error}"
                log.warning("account snapshot (%s) not taken: %s", why, self.last_problem)
                return None
            books = await self.store.books_state()
            quantities = {position.symbol: position.quantity for position in after}
            steady = quantities == {position.symbol: position.quantity for position in before}
            snapshot = snapshot_of(
                account,
                taken_at=now,
                source=self.broker.name,
                books=books,
                broker_quantities=quantities if steady else None,
            )
            identifier = await self.store.record(snapshot)
            self.last_snapshot = snapshot
            self.last_problem = None
            log.debug(
                "account snapshot %d (%s): equity %s cash %s buying power %s%s",
                identifier,
                why,
                snapshot.equity,
                snapshot.cash,
                snapshot.buying_power,
                "" if snapshot.in_step else " (not in step with the books)",
            )
            return snapshot

    async def health(self) -> str:
        """For /health: what the last reading said; raises (shows down) when the last attempt failed."""
        if self.last_problem is not None:
            raise AccountUnreadError(self.last_problem)
        snapshot = self.last_snapshot
        if snapshot is None:
            return "no reading of the broker's account yet (one is taken at start)"
        step = "" if snapshot.in_step else ", not in step with the books"
        return (
            f"read {snapshot.taken_at.isoformat()}: equity {snapshot.equity}, cash {snapshot.cash}, "
            f"buying power {snapshot.buying_power}{step}"
        )

    async def learn_assets(self) -> tuple[int, int]:
        """What the broker says of every watched or held symbol; returns how many it knew, of how many."""
        learned: list[BrokerAsset] = []
        symbols = await self._symbols()
        for symbol in symbols:
            try:
                asset = await self.broker.get_asset(symbol)
            except BrokerError as error:
                log.warning("asset %s not learned from the broker: %s", symbol, error)
                continue
            if asset is not None:
                learned.append(asset)
        await self.assets.record_many(learned, broker=self.broker.name, at=self.clock.now())
        return len(learned), len(symbols)

    async def _symbols(self) -> list[str]:
        async with self._engine.connect() as connection:
            watched = (
                await connection.execute(select(watchlist.c.symbol).where(watchlist.c.active.is_(True)))
            ).scalars()
            held = (
                await connection.execute(select(positions.c.symbol).where(positions.c.quantity != 0))
            ).scalars()
            found = {*watched, *held}
        return sorted(found or set(self.default_symbols))

    def next_reading_at(self, now: datetime) -> datetime:
        gap = self.interval if self.calendar.is_open(now) else self.idle_interval
        moment = now + gap
        # A session opening meanwhile starts the per-minute readings at its open.
        opens = self.calendar.next_open(now)
        return opens if now < opens < moment else moment

    async def run_periodic(self) -> None:
        """A reading at start, then every interval of the clock until cancelled; the assets after the
        first reading, again every ASSET_REFRESH, and sooner while some symbol is not known yet (the
        simulated broker knows a symbol once its first bar has come)."""
        assets_due: datetime | None = None
        while True:
            started = time.monotonic()
            # The next reading is due an interval after this one began, however long this one and
            # the assets take.
            now = self.clock.now()
            due = self.next_reading_at(now)
            try:
                await self.record("start" if self.last_snapshot is None else "periodic")
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is down: say so, try at the next reading
                log.exception("account snapshot failed")
            if assets_due is None or now >= assets_due:
                assets_due = now + await self._refresh_assets()
            await self.clock.sleep_until(due)
            await asyncio.sleep(max(0.0, self.min_wall_gap_seconds - (time.monotonic() - started)))

    async def _refresh_assets(self) -> timedelta:
        """Learn the assets; how long until the next time."""
        try:
            known, asked = await self.learn_assets()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("learning assets from the broker failed; retrying in %s", ASSET_RETRY)
            return ASSET_RETRY
        log.info("learned %d of %d assets from the broker", known, asked)
        return ASSET_REFRESH if known == asked else ASSET_RETRY

    async def after_fills(self, events: Sequence[Event]) -> None:
        """One reading per batch of order updates that holds a fill. An order's new status may be
        announced just before its fills are in the books: a reading out of step is taken again a
        few times, a moment apart, so the one after the fill is in step when the books catch up."""
        if not any(isinstance(e, OrderStatusChanged) and e.filled_quantity > Decimal(0) for e in events):
            return
        for attempt in range(AFTER_FILL_ATTEMPTS):
            snapshot = await self.record("after fill")
            if snapshot is None or snapshot.in_step or attempt == AFTER_FILL_ATTEMPTS - 1:
                return
            await asyncio.sleep(AFTER_FILL_RETRY_SECONDS)

    async def consume_fills(self, bus: MessageBus, *, consumer: str) -> None:
        async def one(event: Event) -> None:
            await self.after_fills([event])

        await consume(bus, ORDERS, ACCOUNT_GROUP, one, batch_handler=self.after_fills, consumer=consumer)
