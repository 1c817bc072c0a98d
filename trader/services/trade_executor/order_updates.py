"""Order updates as the broker streams them, taken into the books within moments of the event.

For each batch of updates (one, or all that arrived meanwhile) the fills are recorded first, in
one transaction, so each position moves exactly once however many channels bring a fill (the
fills table holds one row per execution id and one per order and cumulative quantity); then each
order takes the broker's latest copy through the transition table, the batch in one transaction.
Reconciliation stays the safety net: it runs after every (re)connect of the stream, and whenever
updates could not be recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from trader.adapters.db.stores.orders import StoredOrder
from trader.core.broker import BrokerOrder
from trader.core.order_updates import OrderUpdate, OrderUpdateStream
from trader.core.orders import OrderStatus
from trader.services.trade_executor.books import OrderBooks
from trader.services.trade_executor.context import ExecutorContext
from trader.services.trade_executor.reconciliation import Reconciliation

log = logging.getLogger(__name__)


class OrderUpdateRecorder:
    """The executor's `OrderUpdateListener`."""

    def __init__(self, context: ExecutorContext, books: OrderBooks, reconciliation: Reconciliation) -> None:
        self.context = context
        self.books = books
        self.reconciliation = reconciliation
        self.last_update: OrderUpdate | None = None
        self.last_recorded_at: datetime | None = None
        self.failed_updates = 0
        self._catch_up: asyncio.Task[None] | None = None
        self._catch_up_again = False

    async def on_connected(self) -> None:
        self.request_reconciliation("the order-update stream connected")

    async def on_updates(self, updates: Sequence[OrderUpdate]) -> None:
        try:
            await self._record(updates)
        except Exception:  # the stream's boundary: the broker's truth is taken again by reconciliation
            self.failed_updates += len(updates)
            log.exception(
                "%d order update(s) could not be recorded (%s); reconciling",
                len(updates),
                ", ".join(f"{u.event} {u.order.client_order_id}" for u in updates[:5]),
            )
            self.request_reconciliation("updates that could not be recorded")

    def request_reconciliation(self, why: str) -> None:
        """Reconcile in the background (updates keep flowing meanwhile); a request made while one
        runs makes it run once more."""
        if self._catch_up is not None and not self._catch_up.done():
            self._catch_up_again = True
            return
        self._catch_up = asyncio.create_task(self._reconcile(why))

    async def close(self) -> None:
        if self._catch_up is not None:
            self._catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catch_up

    async def _reconcile(self, why: str) -> None:
        while True:
            self._catch_up_again = False
            try:
                report = await self.reconciliation.reconcile()
            except Exception as error:  # a background task: logged, noted, and tried on schedule
                self.context.note_error(f"reconcile after {why}: {error}")
                log.exception("reconciliation after %s failed", why)
            else:
                log.info("reconciled after %s: %s", why, report.as_dict())
            if not self._catch_up_again:
                return

    async def _record(self, updates: Sequence[OrderUpdate]) -> None:
        ours = await self._books_orders([update.order for update in updates])
        executions = [(ours[u.order.broker_order_id], u.fill) for u in updates if u.fill is not None]
        if executions:
            await self.context.orders.record_fills(executions)
        latest = {update.order.broker_order_id: update for update in updates}  # the broker's last word
        await self.books.apply_broker_orders(
            [(ours[key], u.order) for key, u in latest.items() if u.order.status is not OrderStatus.REJECTED],
            fetch_fills=False,
        )
        for key, update in latest.items():
            if update.order.status is OrderStatus.REJECTED:
                await self._record_rejection(ours[key], update)
        self.last_update = updates[-1]
        self.last_recorded_at = self.context.clock.now()

    async def _record_rejection(self, order: StoredOrder, update: OrderUpdate) -> None:
        refusal = f"broker rejected the order (trade update at {update.at.isoformat()}; no reason given)"
        updated = await self.books.apply_broker_order(
            order, update.order, fetch_fills=False, error_message=refusal
        )
        if updated.status is OrderStatus.REJECTED and updated.error_message == refusal:
            log.warning(
                "order %s (%s %s %s) rejected by the broker: %s",
                updated.client_order_id,
                updated.side.value,
                updated.quantity,
                updated.symbol,
                refusal,
            )

    async def _books_orders(self, copies: Sequence[BrokerOrder]) -> dict[str, StoredOrder]:
        """Our rows of the broker's orders, by broker order id: found by it, else by client_order_id
        (the stream can be faster than the order POST's answer), else imported (placed elsewhere)."""
        orders = self.context.orders
        found = await orders.by_broker_order_ids({copy.broker_order_id for copy in copies})
        missing = {copy.broker_order_id: copy for copy in copies if copy.broker_order_id not in found}
        if missing:
            by_client = await orders.by_client_order_ids(
                {copy.client_order_id[:64] for copy in missing.values()}
            )
            for broker_order_id, copy in missing.items():
                order = by_client.get(copy.client_order_id[:64])
                found[broker_order_id] = order if order is not None else await self.books.import_order(copy)
        return found


def stream_report(stream: OrderUpdateStream | None, recorder: OrderUpdateRecorder) -> dict[str, Any]:
    """The stream's state for /broker/status: listening or not and why, and the last update."""
    if stream is None:
        return {"state": "not used", "reason": "the broker has no order-update stream"}
    status = stream.status
    last = recorder.last_update
    return {
        "name": status.name,
        "state": status.state.value,
        "reason": status.reason,
        "since": status.since.isoformat(),
        "connects": status.connects,
        "updates": status.updates,
        "rejected_messages": status.rejected_messages,
        "failed_updates": recorder.failed_updates,
        "last_update": None
        if last is None
        else {
            "event": last.event,
            "client_order_id": last.order.client_order_id,
            "symbol": last.order.symbol,
            "at": last.at.isoformat(),
            "recorded_at": None
            if recorder.last_recorded_at is None
            else recorder.last_recorded_at.isoformat(),
        },
    }


async def stream_health(stream: OrderUpdateStream) -> str:
    """A /health check: passes while listening, otherwise fails naming the state and the reason."""
    status = stream.status
    if not status.listening:
        raise RuntimeError(f"{status.name} {status.state.value}: {status.reason or 'not connected yet'}")
    return f"{status.name} listening since {status.since.isoformat()}, {status.updates} updates"
