"""The executor's books: orders moved to the broker's truth, fills recorded once, changes announced.

Every part of the executor (submission, reconciliation, order updates, operator actions) writes
the books through this one class, so a status change is always re-read and retried when the row
changed under it, counted in the metrics, and published on the orders topic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from trader.adapters.db.stores.orders import ConcurrentUpdateError, StoredOrder
from trader.core.broker import BrokerFill, BrokerOrder, OrderNotFoundError
from trader.core.events import OrderStatusChanged
from trader.core.orders import IllegalTransitionError, OrderStatus
from trader.core.topics import ORDERS
from trader.services.trade_executor.context import ExecutorContext, alerts

log = logging.getLogger(__name__)

WAITING = (OrderStatus.PENDING, OrderStatus.SUBMITTED)
# Fills are listed from this long before the moment they could first have happened: the broker
# lists strictly after the time given, an order's own time may be ours (its intent) rather than
# the broker's, and the two clocks need not agree to the second.
FILL_LISTING_MARGIN = timedelta(hours=1)


class OrderBooks:
    def __init__(self, context: ExecutorContext) -> None:
        self.context = context

    async def mark(self, order: StoredOrder, status: OrderStatus, message: str | None) -> StoredOrder:
        current = await self.fresh(order)
        if current.status is status and current.error_message == message:
            return current
        if current.status is not order.status and current.status not in WAITING:
            return current  # someone else already moved it on (the broker's answer wins)
        updated = await self.update_with_retry(current, status=status, error_message=message)
        await self.publish(updated, current.status)
        return updated

    async def fresh(self, order: StoredOrder) -> StoredOrder:
        current = await self.context.orders.get(order.id)
        assert current is not None, f"order {order.id} vanished"
        return current

    async def update_with_retry(self, order: StoredOrder, **changes: Any) -> StoredOrder:
        orders, clock = self.context.orders, self.context.clock
        try:
            return await orders.update(order, at=clock.now(), **changes)
        except ConcurrentUpdateError:
            current = await self.fresh(order)
            return await orders.update(current, at=clock.now(), **changes)

    async def apply_broker_order(
        self,
        order: StoredOrder,
        broker_order: BrokerOrder,
        *,
        fetch_fills: bool = True,
        error_message: str | None = None,
    ) -> StoredOrder:
        """Take the broker's truth for this order, then (`fetch_fills`) its fills from the broker's
        listing: re-read and retried when the row changes under us. A streamed update brings its
        fill itself, so it asks for no listing."""
        for _ in range(3):
            current = await self.fresh(order)
            try:
                updated = await self.context.orders.sync_from_broker(
                    current, broker_order, self.context.clock.now(), error_message=error_message
                )
            except ConcurrentUpdateError:
                continue
            except IllegalTransitionError as error:
                alerts.error("order %s: books and broker disagree: %s", order.client_order_id, error)
                return current
            if updated.status is not current.status:
                await self.publish(updated, current.status)
            if fetch_fills and broker_order.filled_quantity > 0:
                await self.record_fills_of([updated])
            return updated
        raise ConcurrentUpdateError(f"order {order.client_order_id} kept changing under the executor")

    async def apply_broker_orders(
        self, answers: Sequence[tuple[StoredOrder, BrokerOrder]], *, fetch_fills: bool = True
    ) -> list[StoredOrder]:
        """`apply_broker_order` for orders read just now, in one transaction, then their fills;
        an order that changed meanwhile (or that the broker moved illegally) goes the one-by-one way."""
        if not answers:
            return []
        synced = await self.context.orders.sync_many_from_broker(answers, self.context.clock.now())
        applied: list[StoredOrder] = []
        changes: list[tuple[StoredOrder, OrderStatus]] = []
        with_fills: list[StoredOrder] = []
        for (order, broker_order), updated in zip(answers, synced, strict=True):
            if updated is None:
                applied.append(await self.apply_broker_order(order, broker_order, fetch_fills=fetch_fills))
                continue
            if updated.status is not order.status:
                changes.append((updated, order.status))
            if fetch_fills and broker_order.filled_quantity > 0:
                with_fills.append(updated)
            applied.append(updated)
        await self.publish_many(changes)
        await self.record_fills_of(with_fills)
        return applied

    async def record_fills_of(self, orders: Sequence[StoredOrder]) -> int:
        """Record the broker's fills of these orders not yet in the books (one listing for all)."""
        ids = {order.broker_order_id for order in orders if order.broker_order_id is not None}
        if not ids:
            return 0
        since = min(order.submitted_at or order.timestamp for order in orders) - FILL_LISTING_MARGIN
        fills = await self.context.broker.list_fills(since=since)
        return await self.record_fills([fill for fill in fills if fill.broker_order_id in ids])

    async def record_fills(self, fills: Sequence[BrokerFill]) -> int:
        """Record fills in the broker's order, each moving its position once; an order the books do
        not hold (placed elsewhere) is imported first."""
        if not fills:
            return 0
        orders = self.context.orders
        owners = await orders.by_broker_order_ids({fill.broker_order_id for fill in fills})
        executions: list[tuple[StoredOrder, BrokerFill]] = []
        for fill in fills:
            order = owners.get(fill.broker_order_id)
            if order is None:
                try:
                    broker_order = await self.context.broker.get_order(fill.broker_order_id)
                except OrderNotFoundError:
                    alerts.error(
                        "fill %s belongs to order %s the broker cannot find",
                        fill.execution_id,
                        fill.broker_order_id,
                    )
                    continue
                order = owners[fill.broker_order_id] = await self.import_order(broker_order)
            executions.append((order, fill))
        recorded = await orders.record_fills(executions)
        return sum(position is not None for position in recorded)

    async def import_legs(self, parents: Sequence[BrokerOrder]) -> list[StoredOrder]:
        """Record the exit legs the broker nests under these orders (a bracket's stop-loss and
        take-profit) as orders of their own, each naming its entry as parent; legs the books
        already hold are brought up to the broker's answer instead."""
        legs = [leg for parent in parents for leg in parent.legs]
        if not legs:
            return []
        orders = self.context.orders
        known = await orders.by_broker_order_ids({leg.broker_order_id for leg in legs})
        recorded = []
        for leg in legs:
            order = known.get(leg.broker_order_id)
            if order is None:
                recorded.append(await self.import_order(leg))
                continue
            if order.parent_trade_id is None and leg.parent_broker_order_id is not None:
                # Imported from a streamed update that came before this answer: the stream's copy
                # of a leg does not name its entry.
                parent = await orders.by_broker_order_id(leg.parent_broker_order_id)
                if parent is not None:
                    order = await self.update_with_retry(order, parent_trade_id=parent.id)
            recorded.append(await self.apply_broker_order(order, leg))
        return recorded

    async def import_order(self, broker_order: BrokerOrder) -> StoredOrder:
        """An order the broker holds and the books do not (placed by hand, a close-all order)."""
        orders, broker = self.context.orders, self.context.broker
        parent_id = None
        if broker_order.parent_broker_order_id is not None:
            parent = await orders.by_broker_order_id(broker_order.parent_broker_order_id)
            parent_id = None if parent is None else parent.id
        imported = await orders.import_broker_order(
            broker_order, broker=broker.name, at=self.context.clock.now(), parent_trade_id=parent_id
        )
        log.info(
            "imported broker order %s (%s) into the books", broker_order.broker_order_id, broker_order.symbol
        )
        return imported

    def _count(self, order: StoredOrder, previous: OrderStatus) -> None:
        metrics = self.context.metrics
        if metrics is None or order.status is previous:
            return
        broker = self.context.broker.name
        if previous is OrderStatus.PENDING and order.status is not OrderStatus.REJECTED:
            metrics.orders_submitted.labels(broker).inc()
        if order.status is OrderStatus.FILLED:
            metrics.orders_filled.labels(broker).inc()
        elif order.status is OrderStatus.REJECTED:
            reason = (order.error_message or "unknown").split(":", 1)[0].strip()[:40] or "unknown"
            metrics.orders_rejected.labels(broker, reason).inc()

    async def publish(self, order: StoredOrder, previous: OrderStatus) -> None:
        await self.publish_many([(order, previous)])

    async def publish_many(self, changes: Sequence[tuple[StoredOrder, OrderStatus]]) -> None:
        """Count and announce status changes (order, previous status), in order, in one round trip."""
        for order, previous in changes:
            self._count(order, previous)
        bus = self.context.bus
        if bus is None or not changes:
            return
        now = self.context.clock.now()
        await bus.publish_many(
            ORDERS,
            [
                OrderStatusChanged(
                    occurred_at=now,
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    previous_status=previous.value,
                    status=order.status.value,
                    filled_quantity=order.filled_quantity,
                    error_message=order.error_message,
                )
                for order, previous in changes
            ],
        )
