"""Submission: an approved order sent to the broker exactly once.

Exactly-once rests on three things: the `client_order_id` is derived from the decision (never
random), the intent row is committed before the broker hears of the order, and an unanswered
request (timeout, 5xx, 429) is followed by a look-up by that id before anything is re-sent. A
re-send, when the look-up finds nothing, carries the same id, so the broker itself refuses a
second copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from trader.adapters.db.stores.orders import OrderIntent, OrderOrigin, StoredOrder
from trader.core.broker import (
    BrokerAsset,
    BrokerAuthenticationError,
    BrokerError,
    BrokerOrder,
    DuplicateClientOrderIdError,
    OrderClass,
    OrderNotCancelableError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderRequest,
    bracket_fields,
)
from trader.core.client_order_ids import make_client_order_id
from trader.core.events import OrderApproved, OrderStatusChanged
from trader.core.orders import OrderSide, OrderStatus, OrderType
from trader.core.risk.state import TradingState
from trader.core.topics import ORDERS
from trader.services.trade_executor.books import WAITING, OrderBooks
from trader.services.trade_executor.context import ExecutorContext, alerts

log = logging.getLogger(__name__)


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


def _reduces(request: OrderRequest, held: Decimal) -> bool:
    """Whether the order only shrinks the position held (never flips or grows it)."""
    if request.side is OrderSide.SELL:
        return held > 0 and request.quantity <= held
    return held < 0 and request.quantity <= -held


class OrderSubmission:
    def __init__(self, context: ExecutorContext, books: OrderBooks) -> None:
        self.context = context
        self.books = books

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
        bar_times = await self.context.orders.signal_bar_times(
            [approved.signal_event_id for approved in approvals]
        )
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
                **bracket_fields(approved.stop_loss_price, approved.take_profit_price),
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
        existing = await self.context.orders.by_client_order_ids(list(first))
        results: dict[str, ExecutionResult] = {}
        new: list[tuple[OrderRequest, OrderOrigin]] = []
        for client_order_id, (request, origin) in first.items():
            order = existing.get(client_order_id)
            if order is None:
                new.append((request, origin))
            elif order.status in WAITING:
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
        state = await self.context.trading_state.current_state() if gate is None else None
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
                    assets[request.symbol] = await self.context.broker.get_asset(request.symbol)
                asset = assets[request.symbol]
                if asset is None:
                    refusal = f"unknown symbol {request.symbol}"
                elif not asset.tradable:
                    refusal = f"{request.symbol} is not tradable"
            intents.append(OrderIntent(request, origin, refusal))
        return intents, unstorable

    async def _gate_refusal(self) -> str | None:
        """Maintenance mode makes the system read-only: no new orders (cancels still pass)."""
        if self.context.maintenance is None:
            return None
        mode = await self.context.maintenance.current()
        return f"maintenance mode (read-only): no new orders ({mode.reason})" if mode.enabled else None

    async def _held_quantities(self) -> dict[str, Decimal]:
        return {stored.symbol: stored.position.quantity for stored in await self.context.positions.all()}

    async def _record_and_send(self, intents: Sequence[OrderIntent]) -> dict[str, ExecutionResult]:
        """Persist every intent first (one transaction), then send the pending ones in order."""
        if not intents:
            return {}
        stored = await self.context.orders.create_intents(
            intents, broker=self.context.broker.name, created_at=self.context.clock.now()
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
        await self.books.publish_many(announced)
        await self._release_protection(to_send)
        answered: list[tuple[StoredOrder, BrokerOrder]] = []
        for order in to_send:
            outcome = await self._send(order)
            if isinstance(outcome, BrokerOrder):
                answered.append((order, outcome))
            else:
                results[order.client_order_id] = ExecutionResult(outcome)
        for order in await self.books.apply_broker_orders(answered):
            results[order.client_order_id] = ExecutionResult(order)
        await self.books.import_legs([answer for _order, answer in answered])
        return results

    async def _release_protection(self, to_send: Sequence[StoredOrder]) -> None:
        """A simple order on the side of a position's protective legs (a signal's exit of a bracket
        entry) cancels those legs first: the broker holds the position's quantity for them (Alpaca
        refuses the exit otherwise), and a leg left working would sell the position a second time."""
        sides = {(order.symbol, order.side) for order in to_send if order.order_class is OrderClass.SIMPLE}
        if not sides:
            return
        legs = [
            order
            for order in await self.context.orders.open_orders()
            if order.parent_trade_id is not None
            and order.broker_order_id is not None
            and (order.symbol, order.side) in sides
        ]
        for leg in legs:
            assert leg.broker_order_id is not None
            # Filled or gone meanwhile: the broker's copy below says which.
            with contextlib.suppress(OrderNotCancelableError):
                await self.context.broker.cancel_order(leg.broker_order_id)
            await self.books.apply_broker_order(leg, await self.context.broker.get_order(leg.broker_order_id))
            log.info("canceled protective leg %s of %s before its exit", leg.client_order_id, leg.symbol)

    async def _refuse_unstorable(self, symbol: str, message: str) -> ExecutionResult:
        # A row needs a positive quantity and a known side; the refusal is logged and announced.
        log.warning("order for %s refused: %s", symbol, message)
        if self.context.bus is not None:
            await self.context.bus.publish(
                ORDERS,
                OrderStatusChanged(
                    occurred_at=self.context.clock.now(),
                    client_order_id="",
                    symbol=symbol,
                    previous_status="",
                    status=OrderStatus.REJECTED.value,
                    error_message=message,
                ),
            )
        return ExecutionResult(None, refusal=message)

    async def submit(self, order: StoredOrder) -> StoredOrder:
        outcome = await self._send(order)
        if isinstance(outcome, BrokerOrder):
            applied = await self.books.apply_broker_order(order, outcome)
            await self.books.import_legs([outcome])
            return applied
        return outcome

    async def _send(self, order: StoredOrder) -> BrokerOrder | StoredOrder:
        """Send a recorded order: the broker's copy to record, or the order as marked when the
        broker refused it or its outcome stays unknown (never re-sent without a look-up)."""
        attempts = self.context.config.submit_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await self.context.broker.submit_order(order.to_request())
            except DuplicateClientOrderIdError:
                found = await self.context.broker.find_order(order.client_order_id)
                if found is not None:
                    return found
                return await self.books.mark(
                    order, OrderStatus.SUBMITTED, "broker reports a duplicate it cannot find"
                )
            except OrderRejectedError as error:
                log.warning(
                    "order %s (%s %s %s) rejected by the broker: %s",
                    order.client_order_id,
                    order.side.value,
                    order.quantity,
                    order.symbol,
                    error,
                )
                return await self.books.mark(order, OrderStatus.REJECTED, f"broker rejected: {error}")
            except OrderOutcomeUnknownError as error:
                outcome = await self._look_up_after(order, error, attempt)
                if outcome is not None:
                    return outcome
            except BrokerAuthenticationError as error:
                self.context.note_error(str(error))
                alerts.error(
                    "broker refused our credentials; order %s not sent: %s", order.client_order_id, error
                )
                return await self.books.mark(
                    order, OrderStatus.REJECTED, f"broker authentication failed: {error}"
                )
            except BrokerError as error:
                self.context.note_error(str(error))
                return await self.books.mark(
                    order, OrderStatus.SUBMITTED, f"broker error, outcome unknown: {error}"
                )
        return await self.books.mark(
            order,
            OrderStatus.SUBMITTED,
            f"no answer after {attempts} attempts, not found by client_order_id; reconciliation resolves it",
        )

    async def _look_up_after(
        self, order: StoredOrder, error: OrderOutcomeUnknownError, attempt: int
    ) -> BrokerOrder | StoredOrder | None:
        """After an unanswered submission: the broker's copy if the order got through, the order
        marked SUBMITTED if even the look-up failed, or None (after a pause) to send it again."""
        self.context.note_error(f"submit {order.client_order_id}: {error}")
        log.warning(
            "order %s: outcome unknown (attempt %d/%d): %s; looking it up before any re-send",
            order.client_order_id,
            attempt,
            self.context.config.submit_attempts,
            error,
        )
        try:
            found = await self.context.broker.find_order(order.client_order_id)
        except BrokerError as lookup_error:
            self.context.note_error(f"look-up {order.client_order_id}: {lookup_error}")
            return await self.books.mark(
                order, OrderStatus.SUBMITTED, f"outcome unknown, look-up failed: {lookup_error}"
            )
        if found is not None:
            return found
        wait = max(error.retry_after_seconds, self.context.config.retry_wait_seconds * attempt)
        await asyncio.sleep(wait)
        return None

    async def _resolve_waiting(self, order: StoredOrder, *, resend: bool) -> StoredOrder:
        """A pending/submitted order: adopt the broker's copy, or (if it never arrived) send it."""
        found = await self.context.broker.find_order(order.client_order_id)
        if found is not None:
            applied = await self.books.apply_broker_order(order, found)
            await self.books.import_legs([found])
            return applied
        if resend:
            return await self.submit(order)
        return order
