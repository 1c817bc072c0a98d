"""An operator closes one position: its open orders are cancelled, then one market order for the
quantity the broker holds goes through the executor's exactly-once path.

The order is screened like any other (maintenance mode, HALTED, REDUCING refuse what they refuse,
recorded with the reason), and its client order id is derived from the symbol and the minute, so
a double click sends one order. A close already working for the symbol is reported, not repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trader.adapters.db.stores.orders import OrderOrigin, StoredOrder
from trader.core.broker import OrderRequest
from trader.core.client_order_ids import make_client_order_id
from trader.core.orders import TERMINAL_STATUSES, OrderSide, OrderStatus, OrderType
from trader.services.trade_executor.handlers import OrderCancelRefusedError, TradeExecutor

# Recorded as the order's strategy, so the books say who closed the position.
OPERATOR_CLOSE = "operator-close"
_OPEN_STATUSES = [status for status in OrderStatus if status not in TERMINAL_STATUSES]
_MAX_OPEN_ORDERS = 500


class NoPositionError(LookupError):
    """The broker holds nothing in this symbol."""


class CloseAlreadyWorkingError(Exception):
    """An operator's close of this symbol is still open at the broker."""


@dataclass(frozen=True, slots=True)
class PositionClose:
    symbol: str
    quantity: Decimal  # signed, as held before the close
    canceled_order_ids: tuple[int, ...]
    order: StoredOrder | None
    refusal: str | None

    @property
    def sent(self) -> bool:
        return (
            self.refusal is None and self.order is not None and self.order.status is not OrderStatus.REJECTED
        )


async def _cancel_open_orders(executor: TradeExecutor, open_orders: list[StoredOrder]) -> tuple[int, ...]:
    canceled = []
    for order in open_orders:
        try:
            await executor.cancel(order.id)
        except OrderCancelRefusedError:
            # Filled or cancelled meanwhile: nothing left to cancel; the broker's position says the rest.
            continue
        canceled.append(order.id)
    return tuple(canceled)


async def close_position(executor: TradeExecutor, symbol: str) -> PositionClose:
    held = {position.symbol: position for position in await executor.broker.list_positions()}.get(symbol)
    if held is None or held.quantity == 0:
        raise NoPositionError(f"no open position in {symbol} at the broker")
    open_orders = await executor.orders.recent(statuses=_OPEN_STATUSES, symbol=symbol, limit=_MAX_OPEN_ORDERS)
    working = [order for order in open_orders if order.strategy_name == OPERATOR_CLOSE]
    if working:
        raise CloseAlreadyWorkingError(
            f"a close of {symbol} is already working: order {working[0].id} ({working[0].status.value})"
        )
    canceled = await _cancel_open_orders(executor, open_orders)
    side = OrderSide.SELL if held.quantity > 0 else OrderSide.BUY
    minute = executor.clock.now().replace(second=0, microsecond=0)
    request = OrderRequest(
        client_order_id=make_client_order_id(OPERATOR_CLOSE, symbol, minute, f"{side.value}ma"),
        symbol=symbol,
        side=side,
        quantity=abs(held.quantity),
        order_type=OrderType.MARKET,
    )
    result = await executor.execute(request, origin=OrderOrigin(strategy_name=OPERATOR_CLOSE))
    refusal = result.refusal
    if refusal is None and result.order is not None and result.order.status is OrderStatus.REJECTED:
        refusal = result.order.error_message or "rejected"
    return PositionClose(symbol, held.quantity, canceled, result.order, refusal)
