"""Reconciliation: the books brought to the broker's truth (orders, fills, positions).

It runs at start-up (before any new order is taken), on schedule, and after the operator's
emergency actions. The broker's truth wins; drift is repaired, alerted, notified, and, past a
threshold, moves trading to REDUCING.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from trader.adapters.db.stores.orders import StoredOrder
from trader.core.broker import BrokerOrder, BrokerPosition, OrderNotFoundError
from trader.core.money import to_cash
from trader.core.orders import OrderStatus
from trader.core.risk.state import StateChange, TradingState
from trader.core.topics import TRADING_STATE
from trader.services.trade_executor.books import FILL_LISTING_MARGIN, WAITING, OrderBooks
from trader.services.trade_executor.context import ACTOR, ExecutorContext, alerts
from trader.services.trade_executor.submission import OrderSubmission

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReconciliationReport:
    started_at: datetime
    orders_checked: int = 0
    orders_updated: int = 0
    orders_imported: int = 0
    stuck_resolved: int = 0
    resubmitted: int = 0
    fills_recorded: int = 0
    position_drifts: list[str] = field(default_factory=list)
    order_drifts: list[str] = field(default_factory=list)
    drift_notional: Decimal = Decimal(0)
    positions_compared: bool = True
    state_changed_to: str | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.order_drifts or self.position_drifts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "orders_checked": self.orders_checked,
            "orders_updated": self.orders_updated,
            "orders_imported": self.orders_imported,
            "stuck_resolved": self.stuck_resolved,
            "resubmitted": self.resubmitted,
            "fills_recorded": self.fills_recorded,
            "position_drifts": self.position_drifts,
            "order_drifts": self.order_drifts,
            "drift_notional": str(self.drift_notional),
            "positions_compared": self.positions_compared,
            "state_changed_to": self.state_changed_to,
        }


class Reconciliation:
    def __init__(self, context: ExecutorContext, books: OrderBooks, submission: OrderSubmission) -> None:
        self.context = context
        self.books = books
        self.submission = submission
        # Told about drift repaired from the broker's truth (the notification dispatcher).
        self.on_drift: Callable[[ReconciliationReport], Awaitable[None]] | None = None
        self.last_reconciliation: ReconciliationReport | None = None
        self._lock = asyncio.Lock()

    async def sync_broker_orders(self, broker_order_ids: Collection[str]) -> bool:
        """Take the broker's truth for these orders and their fills (positions move with the fills).

        What the simulated broker does on a batch of bars touches a few orders; a full
        reconciliation per batch reads every open order and position instead. Returns False,
        having changed nothing, when an id is unknown to the books or the broker: only the full
        reconciliation imports foreign orders."""
        wanted = sorted(set(broker_order_ids))
        async with self._lock:
            ours = await self.context.orders.by_broker_order_ids(wanted)
            if len(ours) < len(wanted):
                return False
            answers: list[tuple[StoredOrder, BrokerOrder]] = []
            for broker_order_id in wanted:
                try:
                    answers.append(
                        (ours[broker_order_id], await self.context.broker.get_order(broker_order_id))
                    )
                except OrderNotFoundError:
                    return False
            await self.books.apply_broker_orders(answers)
        return True

    async def reconcile(self, *, startup: bool = False) -> ReconciliationReport:
        """Orders, fills and positions against the broker; the broker's truth wins."""
        async with self._lock:
            report = ReconciliationReport(started_at=self.context.clock.now())
            await self._reconcile_open_orders(report, startup=startup)
            await self._import_unknown_orders(report)
            await self._reconcile_fills_and_positions(report)
            await self._escalate_on_drift(report)
            self.last_reconciliation = report
            await self._announce(report)
            return report

    async def _reconcile_fills_and_positions(self, report: ReconciliationReport) -> None:
        broker, orders = self.context.broker, self.context.orders
        since = await orders.latest_fill_at()
        since = None if since is None else since - FILL_LISTING_MARGIN
        first = await broker.list_fills(since=since)
        # Known by execution id, or by order and cumulative quantity when the stream brought it.
        report.fills_recorded = await self.books.record_fills(await orders.unrecorded_fills(first))
        broker_positions = await broker.list_positions()
        second = await broker.list_fills(since=since)
        seen = {fill.execution_id for fill in first}
        if any(fill.execution_id not in seen for fill in second):
            # Fills arrived while we compared: positions are compared on the next pass.
            report.positions_compared = False
        else:
            await self._reconcile_positions(report, broker_positions)

    async def _announce(self, report: ReconciliationReport) -> None:
        metrics = self.context.metrics
        if metrics is not None:
            metrics.reconciliation_drift.labels("position_quantity").set(len(report.position_drifts))
            metrics.reconciliation_drift.labels("order_status").set(len(report.order_drifts))
        if not report.drifted:
            return
        if self.on_drift is not None:
            try:
                await self.on_drift(report)
            except Exception:  # the repair stands whether or not the message went out
                log.exception("could not send the drift notification")
        alerts.error(
            "reconciliation repaired drift from the broker: orders %s; positions %s (notional %s)",
            report.order_drifts,
            report.position_drifts,
            report.drift_notional,
        )

    async def _reconcile_open_orders(self, report: ReconciliationReport, *, startup: bool) -> None:
        for order in await self.context.orders.open_orders():
            report.orders_checked += 1
            try:
                if order.broker_order_id is not None:
                    found: BrokerOrder | None = await self.context.broker.get_order(order.broker_order_id)
                else:
                    found = await self.context.broker.find_order(order.client_order_id)
            except OrderNotFoundError:
                found = None
            if found is not None:
                updated = await self.books.apply_broker_order(order, found)
                report.orders_updated += updated.version != order.version
            elif order.status in WAITING:
                await self._settle_unsent(order, report, startup=startup)
            else:
                message = (
                    f"order {order.client_order_id} is {order.status.value} in our books, "
                    "unknown to the broker"
                )
                report.order_drifts.append(message)
                await self.books.update_with_retry(order, status=OrderStatus.CANCELED, error_message=message)

    async def _settle_unsent(
        self, order: StoredOrder, report: ReconciliationReport, *, startup: bool
    ) -> None:
        """A pending/submitted order the broker does not know: sent now at start-up (persisted,
        never sent: we stopped in between), or, once stuck, resolved as canceled."""
        age = self.context.clock.now() - order.timestamp
        stuck_after = self.context.config.stuck_after
        if order.status is OrderStatus.PENDING and startup and age < stuck_after:
            await self.submission.submit(order)  # the same client_order_id
            report.resubmitted += 1
        elif age >= stuck_after:
            seconds = int(age.total_seconds())
            await self.books.mark(
                order,
                OrderStatus.CANCELED,
                f"stuck in {order.status.value} for {seconds}s and unknown to the broker by "
                "client_order_id: never reached it, resolved as canceled",
            )
            report.stuck_resolved += 1

    async def _import_unknown_orders(self, report: ReconciliationReport) -> None:
        """The broker's orders of the window the books do not hold by broker id: ours seen by
        client_order_id are brought up to date, the others (placed elsewhere) imported."""
        orders = self.context.orders
        oldest = min((o.timestamp for o in await orders.open_orders()), default=None)
        window_start = (oldest or report.started_at) - timedelta(days=1)
        broker_orders = await self.context.broker.list_orders(since=window_start)
        known = await orders.known_broker_order_ids([o.broker_order_id for o in broker_orders])
        for broker_order in broker_orders:
            if broker_order.broker_order_id in known:
                continue
            ours = await orders.by_client_order_id(broker_order.client_order_id)
            if ours is not None:
                await self.books.apply_broker_order(ours, broker_order)
                continue
            await self.books.import_order(broker_order)
            report.orders_imported += 1

    async def _reconcile_positions(
        self, report: ReconciliationReport, broker_positions: Sequence[BrokerPosition]
    ) -> None:
        theirs = {position.symbol: position for position in broker_positions}
        ours = {stored.symbol: stored for stored in await self.context.positions.all()}
        now = self.context.clock.now()
        for symbol in sorted(set(theirs) | set(ours)):
            broker_position = theirs.get(symbol)
            stored = ours.get(symbol)
            broker_quantity = Decimal(0) if broker_position is None else broker_position.quantity
            our_quantity = Decimal(0) if stored is None else stored.position.quantity
            mark = None if broker_position is None else broker_position.market_price
            if broker_quantity == our_quantity:
                if mark is not None and stored is not None:
                    await self.context.positions.mark(symbol, mark, now)
                continue
            price = mark or (broker_position.average_entry_price if broker_position else None)
            if price is None and stored is not None:
                price = stored.market_price or stored.position.average_cost
            difference = abs(broker_quantity - our_quantity)
            report.drift_notional += to_cash(difference * (price or Decimal(0)))
            report.position_drifts.append(f"{symbol}: books {our_quantity}, broker {broker_quantity}")
            await self.context.positions.set_from_broker(
                symbol,
                broker_quantity,
                Decimal(0) if broker_position is None else broker_position.average_entry_price,
                mark,
                now,
            )

    async def _escalate_on_drift(self, report: ReconciliationReport) -> None:
        if report.drift_notional <= self.context.config.drift_threshold:
            return
        current = await self.context.trading_state.current_state()
        if current is not TradingState.ACTIVE:
            return
        change = StateChange(
            previous_state=current,
            state=TradingState.REDUCING,
            reason=(
                f"RECONCILIATION_DRIFT: books differed from the broker by {report.drift_notional} "
                f"(> {self.context.config.drift_threshold}): {'; '.join(report.position_drifts)}"
            ),
            changed_by=ACTOR,
            changed_at=self.context.clock.now(),
        )
        await self.context.trading_state.record(change)
        report.state_changed_to = TradingState.REDUCING.value
        alerts.critical("trading state -> REDUCING: %s", change.reason)
        if self.context.bus is not None:
            await self.context.bus.publish(TRADING_STATE, change.to_event())
