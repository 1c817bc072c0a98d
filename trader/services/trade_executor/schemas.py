"""Response bodies of the trade executor's API (amounts as strings: exact decimals survive JSON)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from trader.adapters.db.stores.orders import StoredFill, StoredOrder
from trader.adapters.db.stores.positions import StoredPosition
from trader.core.broker import CloseResult


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


class FillBody(BaseModel):
    execution_id: str
    quantity: str
    price: str
    commission: str  # everything charged beyond the price, regulatory fees included
    regulatory_fees: str
    timestamp: datetime

    @classmethod
    def of(cls, fill: StoredFill) -> FillBody:
        return cls(
            execution_id=fill.execution_id,
            quantity=format(fill.quantity, "f"),
            price=format(fill.price, "f"),
            commission=format(fill.commission, "f"),
            regulatory_fees=format(fill.regulatory_fees, "f"),
            timestamp=fill.timestamp,
        )


class OrderBody(BaseModel):
    id: int
    client_order_id: str
    broker_order_id: str | None
    broker: str
    symbol: str
    side: str
    order_type: str
    order_class: str
    time_in_force: str
    quantity: str
    limit_price: str | None
    stop_price: str | None
    status: str
    broker_status: str | None
    filled_quantity: str
    average_fill_price: str | None
    error_message: str | None
    strategy_name: str | None
    parent_trade_id: int | None = None  # a protective leg's parent order
    # A bracket entry's levels (its legs are orders of their own, naming it as parent).
    take_profit_price: str | None = None
    stop_loss_price: str | None = None
    timestamp: datetime
    submitted_at: datetime | None
    filled_at: datetime | None
    canceled_at: datetime | None
    updated_at: datetime
    fills: list[FillBody] | None = None

    @classmethod
    def of(cls, order: StoredOrder, fills: list[StoredFill] | None = None) -> OrderBody:
        return cls(
            id=order.id,
            client_order_id=order.client_order_id,
            broker_order_id=order.broker_order_id,
            broker=order.broker,
            symbol=order.symbol,
            side=order.side.value,
            order_type=order.order_type.value,
            order_class=order.order_class.value,
            time_in_force=order.time_in_force.value,
            quantity=format(order.quantity, "f"),
            limit_price=_text(order.limit_price),
            stop_price=_text(order.stop_price),
            status=order.status.value,
            broker_status=order.broker_status,
            filled_quantity=format(order.filled_quantity, "f"),
            average_fill_price=_text(order.average_fill_price),
            error_message=order.error_message,
            strategy_name=order.strategy_name,
            parent_trade_id=order.parent_trade_id,
            take_profit_price=_text(order.take_profit_price),
            stop_loss_price=_text(order.stop_loss_price),
            timestamp=order.timestamp,
            submitted_at=order.submitted_at,
            filled_at=order.filled_at,
            canceled_at=order.canceled_at,
            updated_at=order.updated_at,
            fills=None if fills is None else [FillBody.of(fill) for fill in fills],
        )


class PositionBody(BaseModel):
    symbol: str
    quantity: str
    side: str
    average_cost: str
    market_price: str | None
    market_value: str | None
    realized_pnl: str
    unrealized_pnl: str | None
    opened_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, stored: StoredPosition) -> PositionBody:
        position = stored.position
        mark = stored.market_price
        return cls(
            symbol=position.symbol,
            quantity=format(position.quantity, "f"),
            side="long" if position.is_long else "short" if position.is_short else "flat",
            average_cost=format(position.average_cost, "f"),
            market_price=_text(mark),
            market_value=None if mark is None else format(position.market_value(mark), "f"),
            realized_pnl=format(position.realized_pnl, "f"),
            unrealized_pnl=_text(stored.unrealized_pnl),
            opened_at=stored.opened_at,
            updated_at=stored.updated_at,
        )


class CloseResultBody(BaseModel):
    symbol: str
    status: int
    order_id: str | None
    client_order_id: str | None
    error: str | None

    @classmethod
    def of(cls, result: CloseResult) -> CloseResultBody:
        order = result.order
        return cls(
            symbol=result.symbol,
            status=result.status_code,
            order_id=None if order is None else order.broker_order_id,
            client_order_id=None if order is None else order.client_order_id,
            error=result.error,
        )
