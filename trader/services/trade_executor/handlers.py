"""The trade executor's use cases, one object for the service and its routes.

`TradeExecutor` composes the parts, each in its own module: submission (an approved order sent
exactly once), reconciliation (the books brought to the broker's truth), order updates (the
broker's stream taken into the books as it happens) and operator actions (cancel, cancel-all,
close-all, broker status). They share one `ExecutorContext` and write the books through one
`OrderBooks`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from trader.adapters.db.stores.orders import OrderOrigin, StoredOrder
from trader.core.broker import Broker, OrderRequest
from trader.core.events import OrderApproved
from trader.core.order_updates import OrderUpdateStream
from trader.core.ports import Clock, MessageBus
from trader.services.common.metrics import OrderMetrics
from trader.services.trade_executor.books import OrderBooks
from trader.services.trade_executor.context import ACTOR, ExecutorConfig, ExecutorContext
from trader.services.trade_executor.operator_actions import (
    CloseAllReport,
    OperatorActions,
    OrderCancelRefusedError,
)
from trader.services.trade_executor.order_updates import OrderUpdateRecorder, stream_report
from trader.services.trade_executor.ports import MaintenanceSwitch, OrderBook, PositionBook, TradingStateLog
from trader.services.trade_executor.reconciliation import Reconciliation, ReconciliationReport
from trader.services.trade_executor.submission import ExecutionResult, OrderSubmission

__all__ = [
    "ACTOR",
    "CloseAllReport",
    "ExecutionResult",
    "ExecutorConfig",
    "OrderCancelRefusedError",
    "ReconciliationReport",
    "TradeExecutor",
]


class TradeExecutor:
    def __init__(
        self,
        *,
        broker: Broker,
        orders: OrderBook,
        positions: PositionBook,
        trading_state: TradingStateLog,
        clock: Clock,
        bus: MessageBus | None = None,
        config: ExecutorConfig | None = None,
        metrics: OrderMetrics | None = None,
    ) -> None:
        self.context = ExecutorContext(
            broker=broker,
            orders=orders,
            positions=positions,
            trading_state=trading_state,
            clock=clock,
            bus=bus,
            config=config or ExecutorConfig(),
            metrics=metrics,
        )
        self.books = OrderBooks(self.context)
        self.submission = OrderSubmission(self.context, self.books)
        self.reconciliation = Reconciliation(self.context, self.books, self.submission)
        self.operator = OperatorActions(self.context, self.books, self.reconciliation)
        self.order_updates = OrderUpdateRecorder(self.context, self.books, self.reconciliation)
        # The broker's order-update stream, when it has one (the service wires it in).
        self.order_stream: OrderUpdateStream | None = None

    # ------------------------------------------------------------------ wiring (shared by the parts)

    @property
    def broker(self) -> Broker:
        return self.context.broker

    @broker.setter
    def broker(self, broker: Broker) -> None:
        self.context.broker = broker

    @property
    def orders(self) -> OrderBook:
        return self.context.orders

    @property
    def positions(self) -> PositionBook:
        return self.context.positions

    @property
    def trading_state(self) -> TradingStateLog:
        return self.context.trading_state

    @property
    def clock(self) -> Clock:
        return self.context.clock

    @property
    def metrics(self) -> OrderMetrics | None:
        return self.context.metrics

    @metrics.setter
    def metrics(self, metrics: OrderMetrics | None) -> None:
        self.context.metrics = metrics

    @property
    def maintenance(self) -> MaintenanceSwitch | None:
        return self.context.maintenance

    @maintenance.setter
    def maintenance(self, maintenance: MaintenanceSwitch | None) -> None:
        self.context.maintenance = maintenance

    @property
    def on_drift(self) -> Callable[[ReconciliationReport], Awaitable[None]] | None:
        return self.reconciliation.on_drift

    @on_drift.setter
    def on_drift(self, callback: Callable[[ReconciliationReport], Awaitable[None]] | None) -> None:
        self.reconciliation.on_drift = callback

    @property
    def last_error(self) -> str | None:
        return self.context.last_error

    @last_error.setter
    def last_error(self, message: str | None) -> None:
        self.context.last_error = message

    @property
    def last_error_at(self) -> datetime | None:
        return self.context.last_error_at

    @property
    def last_reconciliation(self) -> ReconciliationReport | None:
        return self.reconciliation.last_reconciliation

    # ------------------------------------------------------------------ use cases

    async def execute_approved(self, approved: OrderApproved) -> ExecutionResult:
        return await self.submission.execute_approved(approved)

    async def execute_approved_batch(self, approvals: Sequence[OrderApproved]) -> list[ExecutionResult]:
        return await self.submission.execute_approved_batch(approvals)

    async def execute(self, request: OrderRequest, *, origin: OrderOrigin | None = None) -> ExecutionResult:
        return await self.submission.execute(request, origin=origin)

    async def execute_many(self, wanted: Sequence[tuple[OrderRequest, OrderOrigin]]) -> list[ExecutionResult]:
        return await self.submission.execute_many(wanted)

    async def reconcile(self, *, startup: bool = False) -> ReconciliationReport:
        return await self.reconciliation.reconcile(startup=startup)

    async def sync_broker_orders(self, broker_order_ids: Collection[str]) -> bool:
        return await self.reconciliation.sync_broker_orders(broker_order_ids)

    async def cancel(self, order_id: int) -> StoredOrder:
        return await self.operator.cancel(order_id)

    async def cancel_all_open(self) -> dict[str, Any]:
        return await self.operator.cancel_all_open()

    async def close_all(self) -> CloseAllReport:
        return await self.operator.close_all()

    async def broker_status(self) -> dict[str, Any]:
        body = await self.operator.broker_status()
        body["order_updates"] = stream_report(self.order_stream, self.order_updates)
        return body
