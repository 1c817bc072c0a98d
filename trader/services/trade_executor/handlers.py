"""The trade executor's use cases: submit an approved order exactly once, reconcile, close all.

Exactly-once rests on three things: the `client_order_id` is derived from the decision (never
random), the intent row is committed before the broker hears of the order, and an unanswered
request (timeout, 5xx, 429) is followed by a look-up by that id before anything is re-sent. A
re-send, when the look-up finds nothing, carries the same id, so the broker itself refuses a
second copy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from trader.adapters.db.stores.orders import (
    ConcurrentUpdateError,
    OrderIntent,
    OrderOrigin,
    OrderStore,
    StoredOrder,
)
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.system_flags import MaintenanceGate
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.core.broker import (
    Broker,
    BrokerAsset,
    BrokerAuthenticationError,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    CloseResult,
    DuplicateClientOrderIdError,
    OrderNotCancelableError,
    OrderNotFoundError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderRequest,
)
from trader.core.client_order_ids import make_client_order_id
from trader.core.events import OrderApproved, OrderStatusChanged
from trader.core.money import to_cash
from trader.core.orders import IllegalTransitionError, OrderSide, OrderStatus, OrderType
from trader.core.ports import Clock, MessageBus
from trader.core.risk.state import StateChange, TradingState
from trader.core.topics import ORDERS, TRADING_STATE
from trader.services.common.metrics import OrderMetrics

log = logging.getLogger(__name__)
alerts = logging.getLogger("trader.alerts")

ACTOR = "trade_executor"
_WAITING = (OrderStatus.PENDING, OrderStatus.SUBMITTED)


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    stuck_after: timedelta = timedelta(minutes=2)
    drift_threshold: Decimal = Decimal(1000)
    submit_attempts: int = 3
    retry_wait_seconds: float = 0.5


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What became of an order request: the order row, or why nothing was recorded."""

    order: StoredOrder | None
    refusal: str | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None or (
            self.order is not None and self.order.status is OrderStatus.REJECTED
        )


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


@dataclass(frozen=True, slots=True)
class CloseAllReport:
    canceled_orders: int
    cancel_errors: list[str]
    results: Sequence[CloseResult]

    @property
    def all_closed(self) -> bool:
        return not self.cancel_errors and all(result.ok for result in self.results)


class OrderCancelRefusedError(Exception):
    """The order cannot be canceled (unknown or already final); the message says which."""


def _reduces(request: OrderRequest, held: Decimal) -> bool:
    """Whether the order only shrinks the position held (never flips or grows it)."""
    if request.side is OrderSide.SELL:
        return held > 0 and request.quantity <= held
    return held < 0 and request.quantity <= -held


class TradeExecutor:
    def __init__(
        self,
        *,
        broker: Broker,
        orders: OrderStore,
        positions: PositionStore,
        trading_state: TradingStateStore,
        clock: Clock,
        bus: MessageBus | None = None,
        config: ExecutorConfig | None = None,
        metrics: OrderMetrics | None = None,
    ) -> None:
        self.broker = broker
        self.metrics = metrics
        # Told about drift repaired from the broker's truth (the notification dispatcher).
        self.on_drift: Callable[[ReconciliationReport], Awaitable[None]] | None = None
        # Maintenance mode makes the system read-only: no new orders, cancels still pass.
        self.maintenance: MaintenanceGate | None = None
        self.orders = orders
        self.positions = positions
        self.trading_state = trading_state
        self.clock = clock
        self.bus = bus
        self.config = config or ExecutorConfig()
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.last_reconciliation: ReconciliationReport | None = None
        self._reconcile_lock = asyncio.Lock()

    # ------------------------------------------------------------------ submission

    async def execute_approved(self, approved: OrderApproved) -> ExecutionResult:
        """Turn a risk approval into exactly one broker order."""
        (result,) = await self.execute_approved_batch([approved])
        return result

    async def execute_approved_batch(self, approvals: Sequence[OrderApproved]) -> list[ExecutionResult]:
        """Turn risk approvals into broker orders, each exactly once; results in the same order.

        A read batch of decisions shares one reading of the books and one transaction for its
        intents, all committed before the first order is sent; the broker's answers are recorded
        together after the last. A decision delivered twice maps to the same client_order_id."""
        if not approvals:
            return []
        bar_times = await self.orders.signal_bar_times([approved.signal_event_id for approved in approvals])
        results: dict[int, ExecutionResult] = {}
        wanted: dict[int, tuple[OrderRequest, OrderOrigin]] = {}
        for index, approved in enumerate(approvals):
            try:
                side = OrderSide(approved.side.lower())
                order_type = OrderType(approved.order_type.lower())
            except ValueError:
                results[index] = await self._refuse_unstorable(
                    approved.symbol, f"unknown side {approved.side!r} or order type {approved.order_type!r}"
                )
                continue
            signal_at = bar_times.get(approved.signal_event_id) or approved.occurred_at
            client_order_id = make_client_order_id(
                approved.strategy_name, approved.symbol, signal_at, f"{side.value}{order_type.value[:2]}"
            )
            request = OrderRequest(
                client_order_id=client_order_id,
                symbol=approved.symbol.upper(),
                side=side,
                quantity=approved.quantity,
                order_type=order_type,
                limit_price=approved.limit_price,
                stop_price=approved.stop_price,
            )
            origin = OrderOrigin(
                approved.strategy_name or None, approved.decision_id, approved.signal_event_id
            )
            wanted[index] = (request, origin)
        executed = await self.execute_many(list(wanted.values()))
        results.update(zip(wanted, executed, strict=True))
        return [results[index] for index in range(len(approvals))]

    async def execute(self, request: OrderRequest, *, origin: OrderOrigin | None = None) -> ExecutionResult:
        (result,) = await self.execute_many([(request, origin or OrderOrigin())])
        return result

    async def execute_many(self, wanted: Sequence[tuple[OrderRequest, OrderOrigin]]) -> list[ExecutionResult]:
        """Submit each request exactly once (see the module's docstring); results in the same order."""
        first: dict[str, tuple[OrderRequest, OrderOrigin]] = {}
        for request, origin in wanted:
            first.setdefault(request.client_order_id, (request, origin))  # the same order twice: once
        existing = await self.orders.by_client_order_ids(list(first))
        results: dict[str, ExecutionResult] = {}
        new: list[tuple[OrderRequest, OrderOrigin]] = []
        for client_order_id, (request, origin) in first.items():
            order = existing.get(client_order_id)
            if order is None:
                new.append((request, origin))
            elif order.status in _WAITING:
                # A redelivered decision: finish what the first attempt started, never start again.
                results[client_order_id] = ExecutionResult(await self._resolve_waiting(order, resend=True))
            else:
                results[client_order_id] = ExecutionResult(order)
        intents, unstorable = await self._screen(new)
        results.update(unstorable)
        results.update(await self._record_and_send(intents))
        return [results[request.client_order_id] for request, _origin in wanted]

    async def _screen(
        self, wanted: Sequence[tuple[OrderRequest, OrderOrigin]]
    ) -> tuple[list[OrderIntent], dict[str, ExecutionResult]]:
        """Each new request as an intent to send, or to record as refused with the reason; a request
        no row can hold (no positive quantity) is refused without one."""
        intents: list[OrderIntent] = []
        unstorable: dict[str, ExecutionResult] = {}
        if not wanted:
            return intents, unstorable
        gate = await self._gate_refusal()
        state = await self.trading_state.current_state() if gate is None else None
        held = await self._held_quantities() if state is TradingState.REDUCING else {}
        assets: dict[str, BrokerAsset | None] = {}
        for request, origin in wanted:
            refusal: str | None = None
            problems = request.problems()
            if problems:
                refusal = "refused before reaching the broker: " + "; ".join(problems)
                if request.quantity <= 0:
                    unstorable[request.client_order_id] = await self._refuse_unstorable(
                        request.symbol, refusal
                    )
                    continue
            elif gate is not None:
                refusal = gate
            elif state is TradingState.HALTED:
                refusal = "trading state is HALTED: no new orders"
            elif state is TradingState.REDUCING and not _reduces(
                request, held.get(request.symbol, Decimal(0))
            ):
                refusal = "trading state is REDUCING: only orders that shrink a position"
            else:
                if request.symbol not in assets:
                    assets[request.symbol] = await self.broker.get_asset(request.symbol)
                asset = assets[request.symbol]
                if asset is None:
                    refusal = f"unknown symbol {request.symbol}"
                elif not asset.tradable:
                    refusal = f"{request.symbol} is not tradable"
            intents.append(OrderIntent(request, origin, refusal))
        return intents, unstorable

    async def _gate_refusal(self) -> str | None:
        """Maintenance mode makes the system read-only: no new orders (cancels still pass)."""
        if self.maintenance is None:
            return None
        mode = await self.maintenance.current()
        return f"maintenance mode (read-only): no new orders ({mode.reason})" if mode.enabled else None

    async def _held_quantities(self) -> dict[str, Decimal]:
        return {stored.symbol: stored.position.quantity for stored in await self.positions.all()}

    async def _record_and_send(self, intents: Sequence[OrderIntent]) -> dict[str, ExecutionResult]:
        """Persist every intent first (one transaction), then send the pending ones in order."""
        if not intents:
            return {}
        stored = await self.orders.create_intents(
            intents, broker=self.broker.name, created_at=self.clock.now()
        )
        results: dict[str, ExecutionResult] = {}
        announced: list[tuple[StoredOrder, OrderStatus]] = []
        to_send: list[StoredOrder] = []
        for intent in intents:
            request = intent.request
            order, created = stored[request.client_order_id]
            if intent.status is OrderStatus.REJECTED:
                log.warning(
                    "order %s %s %s refused: %s",
                    request.side.value,
                    request.quantity,
                    request.symbol,
                    intent.refusal,
                )
                announced.append((order, OrderStatus.PENDING))
                results[request.client_order_id] = ExecutionResult(order, refusal=intent.refusal)
            elif created:
                announced.append((order, OrderStatus.PENDING))
                to_send.append(order)
            else:  # another worker recorded it between our look-up and our insert
                results[request.client_order_id] = ExecutionResult(
                    await self._resolve_waiting(order, resend=True)
                )
        await self._publish_many(announced)
        answered: list[tuple[StoredOrder, BrokerOrder]] = []
        for order in to_send:
            outcome = await self._send(order)
            if isinstance(outcome, BrokerOrder):
                answered.append((order, outcome))
            else:
                results[order.client_order_id] = ExecutionResult(outcome)
        for order in await self._apply_broker_orders(answered):
            results[order.client_order_id] = ExecutionResult(order)
        return results

    async def _refuse_unstorable(self, symbol: str, message: str) -> ExecutionResult:
        # A row needs a positive quantity and a known side; the refusal is logged and announced.
        log.warning("order for %s refused: %s", symbol, message)
        if self.bus is not None:
            await self.bus.publish(
                ORDERS,
                OrderStatusChanged(
                    occurred_at=self.clock.now(),
                    client_order_id="",
                    symbol=symbol,
                    previous_status="",
                    status=OrderStatus.REJECTED.value,
                    error_message=message,
                ),
            )
        return ExecutionResult(None, refusal=message)

    async def _submit(self, order: StoredOrder) -> StoredOrder:
        outcome = await self._send(order)
        if isinstance(outcome, BrokerOrder):
            return await self._apply_broker_order(order, outcome)
        return outcome

    async def _send(self, order: StoredOrder) -> BrokerOrder | StoredOrder:
        """Send a recorded order: the broker's copy to record, or the order as marked when the
        broker refused it or its outcome stays unknown (never re-sent without a look-up)."""
        attempts = self.config.submit_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await self.broker.submit_order(order.to_request())
            except DuplicateClientOrderIdError:
                found = await self.broker.find_order(order.client_order_id)
                if found is not None:
                    return found
                return await self._mark(
                    order, OrderStatus.SUBMITTED, "broker reports a duplicate it cannot find"
                )
            except OrderRejectedError as error:
                return await self._mark(order, OrderStatus.REJECTED, f"broker rejected: {error}")
            except OrderOutcomeUnknownError as error:
                self._note_error(f"submit {order.client_order_id}: {error}")
                log.warning(
                    "order %s: outcome unknown (attempt %d/%d): %s; looking it up before any re-send",
                    order.client_order_id,
                    attempt,
                    attempts,
                    error,
                )
                try:
                    found = await self.broker.find_order(order.client_order_id)
                except BrokerError as lookup_error:
                    self._note_error(f"look-up {order.client_order_id}: {lookup_error}")
                    return await self._mark(
                        order, OrderStatus.SUBMITTED, f"outcome unknown, look-up failed: {lookup_error}"
                    )
                if found is not None:
                    return found
                await asyncio.sleep(max(error.retry_after_seconds, self.config.retry_wait_seconds * attempt))
                continue
            except BrokerAuthenticationError as error:
                self._note_error(str(error))
                alerts.error(
                    "broker refused our credentials; order %s not sent: %s", order.client_order_id, error
                )
                return await self._mark(order, OrderStatus.REJECTED, f"broker authentication failed: {error}")
            except BrokerError as error:
                self._note_error(str(error))
                return await self._mark(
                    order, OrderStatus.SUBMITTED, f"broker error, outcome unknown: {error}"
                )
        return await self._mark(
            order,
            OrderStatus.SUBMITTED,
            f"no answer after {attempts} attempts, not found by client_order_id; reconciliation resolves it",
        )

    async def _resolve_waiting(self, order: StoredOrder, *, resend: bool) -> StoredOrder:
        """A pending/submitted order: adopt the broker's copy, or (if it never arrived) send it."""
        found = await self.broker.find_order(order.client_order_id)
        if found is not None:
            return await self._apply_broker_order(order, found)
        if resend:
            return await self._submit(order)
        return order

    async def _mark(self, order: StoredOrder, status: OrderStatus, message: str | None) -> StoredOrder:
        current = await self._fresh(order)
        if current.status is status and current.error_message == message:
            return current
        if current.status is not order.status and current.status not in _WAITING:
            return current  # someone else already moved it on (the broker's answer wins)
        updated = await self._update_with_retry(current, status=status, error_message=message)
        await self._publish(updated, current.status)
        return updated

    async def _fresh(self, order: StoredOrder) -> StoredOrder:
        current = await self.orders.get(order.id)
        assert current is not None, f"order {order.id} vanished"
        return current

    async def _update_with_retry(self, order: StoredOrder, **changes: Any) -> StoredOrder:
        try:
            return await self.orders.update(order, at=self.clock.now(), **changes)
        except ConcurrentUpdateError:
            current = await self._fresh(order)
            return await self.orders.update(current, at=self.clock.now(), **changes)

    async def _apply_broker_order(self, order: StoredOrder, broker_order: BrokerOrder) -> StoredOrder:
        """Take the broker's truth for this order, then its fills: re-read and retried when the row
        changes under us."""
        for _ in range(3):
            current = await self._fresh(order)
            try:
                updated = await self.orders.sync_from_broker(current, broker_order, self.clock.now())
            except ConcurrentUpdateError:
                continue
            except IllegalTransitionError as error:
                alerts.error("order %s: books and broker disagree: %s", order.client_order_id, error)
                return current
            if updated.status is not current.status:
                await self._publish(updated, current.status)
            if broker_order.filled_quantity > 0:
                await self._record_fills_of([updated])
            return updated
        raise ConcurrentUpdateError(f"order {order.client_order_id} kept changing under the executor")

    async def _apply_broker_orders(
        self, answers: Sequence[tuple[StoredOrder, BrokerOrder]]
    ) -> list[StoredOrder]:
        """`_apply_broker_order` for orders read just now, in one transaction, then their fills;
        an order that changed meanwhile (or that the broker moved illegally) goes the one-by-one way."""
        if not answers:
            return []
        synced = await self.orders.sync_many_from_broker(answers, self.clock.now())
        applied: list[StoredOrder] = []
        changes: list[tuple[StoredOrder, OrderStatus]] = []
        with_fills: list[StoredOrder] = []
        for (order, broker_order), updated in zip(answers, synced, strict=True):
            if updated is None:
                applied.append(await self._apply_broker_order(order, broker_order))
                continue
            if updated.status is not order.status:
                changes.append((updated, order.status))
            if broker_order.filled_quantity > 0:
                with_fills.append(updated)
            applied.append(updated)
        await self._publish_many(changes)
        await self._record_fills_of(with_fills)
        return applied

    async def _record_fills_of(self, orders: Sequence[StoredOrder]) -> int:
        """Record the broker's fills of these orders not yet in the books (one listing for all)."""
        ids = {order.broker_order_id for order in orders if order.broker_order_id is not None}
        if not ids:
            return 0
        since = min(order.submitted_at or order.timestamp for order in orders)
        fills = await self.broker.list_fills(since=since)
        return await self._record_fills([fill for fill in fills if fill.broker_order_id in ids])

    async def _record_fills(self, fills: Sequence[BrokerFill]) -> int:
        """Record fills in the broker's order, each moving its position once; an order the books do
        not hold (placed elsewhere) is imported first."""
        if not fills:
            return 0
        owners = await self.orders.by_broker_order_ids({fill.broker_order_id for fill in fills})
        executions: list[tuple[StoredOrder, BrokerFill]] = []
        for fill in fills:
            order = owners.get(fill.broker_order_id)
            if order is None:
                try:
                    broker_order = await self.broker.get_order(fill.broker_order_id)
                except OrderNotFoundError:
                    alerts.error(
                        "fill %s belongs to order %s the broker cannot find",
                        fill.execution_id,
                        fill.broker_order_id,
                    )
                    continue
                order = owners[fill.broker_order_id] = await self._import(broker_order)
            executions.append((order, fill))
        recorded = await self.orders.record_fills(executions)
        return sum(position is not None for position in recorded)

    async def _import(self, broker_order: BrokerOrder) -> StoredOrder:
        parent_id = None
        if broker_order.parent_broker_order_id is not None:
            parent = await self.orders.by_broker_order_id(broker_order.parent_broker_order_id)
            parent_id = None if parent is None else parent.id
        imported = await self.orders.import_broker_order(
            broker_order, broker=self.broker.name, at=self.clock.now(), parent_trade_id=parent_id
        )
        log.info(
            "imported broker order %s (%s) into the books", broker_order.broker_order_id, broker_order.symbol
        )
        return imported

    def _count(self, order: StoredOrder, previous: OrderStatus) -> None:
        if self.metrics is None or order.status is previous:
            return
        broker = self.broker.name
        if previous is OrderStatus.PENDING and order.status is not OrderStatus.REJECTED:
            self.metrics.orders_submitted.labels(broker).inc()
        if order.status is OrderStatus.FILLED:
            self.metrics.orders_filled.labels(broker).inc()
        elif order.status is OrderStatus.REJECTED:
            reason = (order.error_message or "unknown").split(":", 1)[0].strip()[:40] or "unknown"
            self.metrics.orders_rejected.labels(broker, reason).inc()

    async def _publish(self, order: StoredOrder, previous: OrderStatus) -> None:
        await self._publish_many([(order, previous)])

    async def _publish_many(self, changes: Sequence[tuple[StoredOrder, OrderStatus]]) -> None:
        """Count and announce status changes (order, previous status), in order, in one round trip."""
        for order, previous in changes:
            self._count(order, previous)
        if self.bus is None or not changes:
            return
        now = self.clock.now()
        await self.bus.publish_many(
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

    def _note_error(self, message: str) -> None:
        self.last_error = message
        self.last_error_at = self.clock.now()

    # ------------------------------------------------------------------ reconciliation

    async def sync_broker_orders(self, broker_order_ids: Collection[str]) -> bool:
        """Take the broker's truth for these orders and their fills (positions move with the fills).

        What the simulated broker does on a batch of bars touches a few orders; a full
        reconciliation per batch reads every open order and position instead. Returns False,
        having changed nothing, when an id is unknown to the books or the broker: only the full
        reconciliation imports foreign orders."""
        wanted = sorted(set(broker_order_ids))
        async with self._reconcile_lock:
            ours = await self.orders.by_broker_order_ids(wanted)
            if len(ours) < len(wanted):
                return False
            answers: list[tuple[StoredOrder, BrokerOrder]] = []
            for broker_order_id in wanted:
                try:
                    answers.append((ours[broker_order_id], await self.broker.get_order(broker_order_id)))
                except OrderNotFoundError:
                    return False
            await self._apply_broker_orders(answers)
        return True

    async def reconcile(self, *, startup: bool = False) -> ReconciliationReport:
        """Orders, fills and positions against the broker; the broker's truth wins."""
        async with self._reconcile_lock:
            report = ReconciliationReport(started_at=self.clock.now())
            await self._reconcile_orders(report, startup=startup)
            since = await self.orders.latest_fill_at()
            since = None if since is None else since - timedelta(hours=1)
            known = await self.orders.known_execution_ids()
            first = await self.broker.list_fills(since=since)
            report.fills_recorded = await self._record_fills(
                [f for f in first if f.execution_id not in known]
            )
            broker_positions = await self.broker.list_positions()
            second = await self.broker.list_fills(since=since)
            seen = {fill.execution_id for fill in first}
            if any(fill.execution_id not in seen for fill in second):
                # Fills arrived while we compared: positions are compared on the next pass.
                report.positions_compared = False
            else:
                await self._reconcile_positions(report, broker_positions)
            await self._escalate_on_drift(report)
            self.last_reconciliation = report
            if self.metrics is not None:
                self.metrics.reconciliation_drift.labels("position_quantity").set(len(report.position_drifts))
                self.metrics.reconciliation_drift.labels("order_status").set(len(report.order_drifts))
            if (report.order_drifts or report.position_drifts) and self.on_drift is not None:
                try:
                    await self.on_drift(report)
                except Exception:  # the repair stands whether or not the message went out
                    log.exception("could not send the drift notification")
            if report.order_drifts or report.position_drifts:
                alerts.error(
                    "reconciliation repaired drift from the broker: orders %s; positions %s (notional %s)",
                    report.order_drifts,
                    report.position_drifts,
                    report.drift_notional,
                )
            return report

    async def _reconcile_orders(self, report: ReconciliationReport, *, startup: bool) -> None:
        for order in await self.orders.open_orders():
            report.orders_checked += 1
            try:
                if order.broker_order_id is not None:
                    found: BrokerOrder | None = await self.broker.get_order(order.broker_order_id)
                else:
                    found = await self.broker.find_order(order.client_order_id)
            except OrderNotFoundError:
                found = None
            if found is not None:
                updated = await self._apply_broker_order(order, found)
                report.orders_updated += updated.version != order.version
                continue
            age = self.clock.now() - order.timestamp
            if order.status in _WAITING:
                if order.status is OrderStatus.PENDING and startup and age < self.config.stuck_after:
                    # Persisted, never sent (we stopped in between): send it now, same id.
                    await self._submit(order)
                    report.resubmitted += 1
                elif age >= self.config.stuck_after:
                    seconds = int(age.total_seconds())
                    await self._mark(
                        order,
                        OrderStatus.CANCELED,
                        f"stuck in {order.status.value} for {seconds}s and unknown to the broker by "
                        "client_order_id: never reached it, resolved as canceled",
                    )
                    report.stuck_resolved += 1
                continue
            message = (
                f"order {order.client_order_id} is {order.status.value} in our books, unknown to the broker"
            )
            report.order_drifts.append(message)
            await self._update_with_retry(order, status=OrderStatus.CANCELED, error_message=message)
        oldest = min((o.timestamp for o in await self.orders.open_orders()), default=None)
        window_start = (oldest or report.started_at) - timedelta(days=1)
        broker_orders = await self.broker.list_orders(since=window_start)
        known = await self.orders.known_broker_order_ids([o.broker_order_id for o in broker_orders])
        for broker_order in broker_orders:
            if broker_order.broker_order_id in known:
                continue
            ours = await self.orders.by_client_order_id(broker_order.client_order_id)
            if ours is not None:
                await self._apply_broker_order(ours, broker_order)
                continue
            await self._import(broker_order)
            report.orders_imported += 1

    async def _reconcile_positions(
        self, report: ReconciliationReport, broker_positions: Sequence[Any]
    ) -> None:
        theirs = {position.symbol: position for position in broker_positions}
        ours = {stored.symbol: stored for stored in await self.positions.all()}
        now = self.clock.now()
        for symbol in sorted(set(theirs) | set(ours)):
            broker_position = theirs.get(symbol)
            stored = ours.get(symbol)
            broker_quantity = Decimal(0) if broker_position is None else broker_position.quantity
            our_quantity = Decimal(0) if stored is None else stored.position.quantity
            mark = None if broker_position is None else broker_position.market_price
            if broker_quantity == our_quantity:
                if mark is not None and stored is not None:
                    await self.positions.mark(symbol, mark, now)
                continue
            price = mark or (broker_position.average_entry_price if broker_position else None)
            if price is None and stored is not None:
                price = stored.market_price or stored.position.average_cost
            difference = abs(broker_quantity - our_quantity)
            report.drift_notional += to_cash(difference * (price or Decimal(0)))
            report.position_drifts.append(f"{symbol}: books {our_quantity}, broker {broker_quantity}")
            await self.positions.set_from_broker(
                symbol,
                broker_quantity,
                Decimal(0) if broker_position is None else broker_position.average_entry_price,
                mark,
                now,
            )

    async def _escalate_on_drift(self, report: ReconciliationReport) -> None:
        if report.drift_notional <= self.config.drift_threshold:
            return
        current = await self.trading_state.current_state()
        if current is not TradingState.ACTIVE:
            return
        change = StateChange(
            previous_state=current,
            state=TradingState.REDUCING,
            reason=(
                f"RECONCILIATION_DRIFT: books differed from the broker by {report.drift_notional} "
                f"(> {self.config.drift_threshold}): {'; '.join(report.position_drifts)}"
            ),
            changed_by=ACTOR,
            changed_at=self.clock.now(),
        )
        await self.trading_state.record(change)
        report.state_changed_to = TradingState.REDUCING.value
        alerts.critical("trading state -> REDUCING: %s", change.reason)
        if self.bus is not None:
            await self.bus.publish(TRADING_STATE, change.to_event())

    # ------------------------------------------------------------------ operator actions

    async def cancel(self, order_id: int) -> StoredOrder:
        order = await self.orders.get(order_id)
        if order is None:
            raise OrderCancelRefusedError(f"no order {order_id}")
        if order.status.is_terminal:
            raise OrderCancelRefusedError(f"order {order_id} is already {order.status.value}")
        if order.broker_order_id is None:
            found = await self.broker.find_order(order.client_order_id)
            if found is None:
                return await self._mark(order, OrderStatus.CANCELED, "canceled before it reached the broker")
            order = await self._apply_broker_order(order, found)
        assert order.broker_order_id is not None
        try:
            await self.broker.cancel_order(order.broker_order_id)
        except OrderNotCancelableError as error:
            raise OrderCancelRefusedError(str(error)) from error
        return await self._apply_broker_order(order, await self.broker.get_order(order.broker_order_id))

    async def cancel_all_open(self) -> dict[str, Any]:
        """Cancel every open order at the broker (emergency shutdown), then bring the books up to date."""
        results = await self.broker.cancel_all_orders()
        errors = [f"{result.broker_order_id}: {result.error}" for result in results if not result.ok]
        try:
            await self.reconcile()
        except BrokerError as error:
            self._note_error(f"reconcile after cancel-all: {error}")
        return {"canceled": len(results) - len(errors), "errors": errors}

    async def close_all(self) -> CloseAllReport:
        """Cancel every open order, then close every position; each symbol reports on its own."""
        canceled = await self.broker.cancel_all_orders()
        errors = [f"{result.broker_order_id}: {result.error}" for result in canceled if not result.ok]
        results = await self.broker.close_all_positions()
        for result in results:
            if result.order is not None:
                await self._import(result.order)
            else:
                alerts.error(
                    "close-all: %s not closed: %s %s", result.symbol, result.status_code, result.error
                )
        try:
            await self.reconcile()
        except BrokerError as error:
            self._note_error(f"reconcile after close-all: {error}")
        return CloseAllReport(len(canceled) - len(errors), errors, results)

    async def broker_status(self) -> dict[str, Any]:
        started = time.perf_counter()
        body: dict[str, Any] = {"broker": self.broker.name}
        try:
            account = await self.broker.get_account()
            clock = await self.broker.get_clock()
        except BrokerError as error:
            self._note_error(str(error))
            body.update(connected=False, latency_ms=round((time.perf_counter() - started) * 1000, 2))
        else:
            body.update(
                connected=True,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
                account_status=account.status,
                buying_power=str(account.buying_power),
                cash=str(account.cash),
                equity=str(account.equity),
                trading_blocked=account.trading_blocked,
                market_open=clock.is_open,
                next_open=clock.next_open.isoformat(),
                next_close=clock.next_close.isoformat(),
            )
        body["last_error"] = self.last_error
        body["last_error_at"] = None if self.last_error_at is None else self.last_error_at.isoformat()
        last = self.last_reconciliation
        body["last_reconciliation"] = None if last is None else last.as_dict()
        return body
