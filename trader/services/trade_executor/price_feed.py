"""The simulated broker's price feed: the replayed bars reach it as they reach the strategies.

The simulated broker fills against the same bars the strategies saw, as the backtester does. Bars
come session by session; expiry follows the bars (`on_bar`), not the wall of the replay clock,
which has usually moved past the close before a session's bars are in.

A read batch of bars is matched in memory bar by bar, then what the batch did to orders (fills,
expiries) is taken into the books in one pass, then the bars are recorded as applied (the risk
manager judges a session's signals only once its fills are in the books) and acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from trader.adapters.db.stores.system_flags import BarsAppliedStore
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.events import BarClosed, bar_from_event
from trader.core.market import Timeframe
from trader.core.topics import BARS
from trader.services.common.consumers import next_deliveries
from trader.services.common.resources import Resources
from trader.services.trade_executor.handlers import TradeExecutor

log = logging.getLogger(__name__)

PRICE_GROUP = "trade_executor_prices"


class SimulatedPriceFeed:
    def __init__(
        self, broker: SimulatedBroker, executor: TradeExecutor, base: Timeframe | None = None
    ) -> None:
        self.broker = broker
        self.executor = executor
        # Prices come from bars of the base timeframe only. A live source also announces 5min..1day
        # bars built from them, after them: matched too, a bar's prices would fill orders twice.
        self.base = base
        # Orders the bars touched whose new state is not in the books yet: kept until a sync
        # succeeds, so a failed sync is made good by the next one instead of being forgotten.
        self._unsynced: set[str] = set()
        # The newest bar matched per symbol in this process: a bar handed out again (its batch
        # failed after matching) must not fill a second time against the same in-memory broker.
        # After a restart the broker is rebuilt from the books, so matching it again is right.
        self._matched_to: dict[str, datetime] = {}

    def match(self, event: BarClosed) -> None:
        """Match the simulated broker's live orders against one bar, in memory."""
        if self.base is not None and event.timeframe is not self.base:
            return
        symbol = event.symbol.upper()
        newest = self._matched_to.get(symbol)
        if newest is not None and event.bar_at <= newest:
            return
        open_before = self.broker.open_order_ids()
        fills = self.broker.on_bar(bar_from_event(event))
        self._matched_to[symbol] = event.bar_at
        # Only the orders this bar filled, expired or closed: one bar of 500 must not cost a
        # full reconciliation each (the periodic one still runs).
        self._unsynced |= open_before - self.broker.open_order_ids()
        self._unsynced.update(fill.broker_order_id for fill in fills)

    async def settle(self) -> None:
        """Take what the matched bars did into the books (orders, fills, positions)."""
        if not self._unsynced:
            return
        if not await self.executor.sync_broker_orders(self._unsynced):
            await self.executor.reconcile()
        self._unsynced.clear()


async def consume_bars(
    resources: Resources,
    feed: SimulatedPriceFeed,
    bars_applied: BarsAppliedStore,
    *,
    consumer: str,
    batch: int = 500,
    max_deliveries: int = 10,
    after_settle: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Each read batch of bars matched one by one, settled in the books, recorded as applied in
    one transaction, then acknowledged. A bar that fails to match stays pending for a retry, as
    with `consume`, and is dropped with an error after `max_deliveries`; if settling fails, the
    whole batch stays pending. `after_settle` runs once the batch is in the books and before it is
    recorded as applied (the account recorder's reading)."""
    bus = resources.bus
    await bus.ensure_group(BARS, PRICE_GROUP)
    while True:
        deliveries = await next_deliveries(bus, BARS, PRICE_GROUP, consumer, count=batch)
        done: list[str] = []
        applied: dict[str, datetime] = {}
        for delivery in deliveries:
            event = delivery.event
            if isinstance(event, BarClosed):
                try:
                    feed.match(event)
                except Exception:
                    if delivery.delivery_count < max_deliveries:
                        log.exception(
                            "bar %s on %s failed; it stays pending for a retry", event.event_id, BARS
                        )
                        continue
                    log.error("dropping bar %s after %d failed deliveries", event.event_id, max_deliveries)
                else:
                    applied[event.symbol] = max(event.bar_at, applied.get(event.symbol, event.bar_at))
            done.append(delivery.message_id)
        try:
            await feed.settle()
            if applied and after_settle is not None:
                # Before the bars count as applied: the risk manager then judges on what follows them.
                await after_settle()
            await bars_applied.record_many(applied, resources.clock.now())
            if done:
                await bus.ack(BARS, PRICE_GROUP, done)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("settling %d applied bars failed; they stay pending", len(applied))
            await asyncio.sleep(1.0)
