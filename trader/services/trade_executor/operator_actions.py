"""Operator actions: cancel one order, cancel every open order, close every position, and the
broker's status (connectivity, account, market clock, last error, last reconciliation)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trader.adapters.db.stores.orders import StoredOrder
from trader.core.broker import BrokerError, CloseResult, OrderNotCancelableError
from trader.core.orders import OrderStatus
from trader.services.trade_executor.books import OrderBooks
from trader.services.trade_executor.context import ExecutorContext, alerts
from trader.services.trade_executor.reconciliation import Reconciliation


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


class OperatorActions:
    def __init__(self, context: ExecutorContext, books: OrderBooks, reconciliation: Reconciliation) -> None:
        self.context = context
        self.books = books
        self.reconciliation = reconciliation

    async def cancel(self, order_id: int) -> StoredOrder:
        order = await self.context.orders.get(order_id)
        if order is None:
            raise OrderCancelRefusedError(f"no order {order_id}")
        if order.status.is_terminal:
            raise OrderCancelRefusedError(f"order {order_id} is already {order.status.value}")
        if order.broker_order_id is None:
            found = await self.context.broker.find_order(order.client_order_id)
            if found is None:
                return await self.books.mark(
                    order, OrderStatus.CANCELED, "canceled before it reached the broker"
                )
            order = await self.books.apply_broker_order(order, found)
        assert order.broker_order_id is not None
        try:
            await self.context.broker.cancel_order(order.broker_order_id)
        except OrderNotCancelableError as error:
            raise OrderCancelRefusedError(str(error)) from error
        return await self.books.apply_broker_order(
            order, await self.context.broker.get_order(order.broker_order_id)
        )

    async def cancel_all_open(self) -> dict[str, Any]:
        """Cancel every open order at the broker (emergency shutdown), then bring the books up to date."""
        results = await self.context.broker.cancel_all_orders()
        errors = [f"{result.broker_order_id}: {result.error}" for result in results if not result.ok]
        try:
            await self.reconciliation.reconcile()
        except BrokerError as error:
            self.context.note_error(f"reconcile after cancel-all: {error}")
        return {"canceled": len(results) - len(errors), "errors": errors}

    async def close_all(self) -> CloseAllReport:
        """Cancel every open order, then close every position; each symbol reports on its own."""
        canceled = await self.context.broker.cancel_all_orders()
        errors = [f"{result.broker_order_id}: {result.error}" for result in canceled if not result.ok]
        results = await self.context.broker.close_all_positions()
        for result in results:
            if result.order is not None:
                await self.books.import_order(result.order)
            else:
                alerts.error(
                    "close-all: %s not closed: %s %s", result.symbol, result.status_code, result.error
                )
        try:
            await self.reconciliation.reconcile()
        except BrokerError as error:
            self.context.note_error(f"reconcile after close-all: {error}")
        return CloseAllReport(len(canceled) - len(errors), errors, results)

    async def broker_status(self) -> dict[str, Any]:
        started = time.perf_counter()
        body: dict[str, Any] = {"broker": self.context.broker.name}
        try:
            account = await self.context.broker.get_account()
            clock = await self.context.broker.get_clock()
        except BrokerError as error:
            self.context.note_error(str(error))
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
        body["last_error"] = self.context.last_error
        body["last_error_at"] = (
            None if self.context.last_error_at is None else self.context.last_error_at.isoformat()
        )
        last = self.reconciliation.last_reconciliation
        body["last_reconciliation"] = None if last is None else last.as_dict()
        return body
