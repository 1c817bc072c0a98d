"""Orders as the guide's `trades` rows (one row per order), their executions in `fills`.

Every status change goes through `trader.core.orders.transition`, and every update names the
`version` it read (optimistic locking): two writers acting on the same order cannot both win;
the loser gets `ConcurrentUpdateError` and re-reads.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.positions import apply_fill_to_position
from trader.adapters.db.tables import fills, risk_decisions, signals, trades
from trader.core.broker import BrokerFill, BrokerOrder, OrderClass, OrderRequest
from trader.core.money import to_price
from trader.core.orders import OrderSide, OrderStatus, OrderType, TimeInForce, transition
from trader.core.positions import Position


class ConcurrentUpdateError(RuntimeError):
    """Somebody else changed the order since it was read; read it again and decide again."""


@dataclass(frozen=True, slots=True)
class StoredOrder:
    id: int
    client_order_id: str
    broker_order_id: str | None
    broker: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    order_class: OrderClass
    time_in_force: TimeInForce
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_percent: Decimal | None
    status: OrderStatus
    broker_status: str | None
    filled_quantity: Decimal
    average_fill_price: Decimal | None
    error_message: str | None
    strategy_name: str | None
    parent_trade_id: int | None
    timestamp: datetime
    submitted_at: datetime | None
    filled_at: datetime | None
    canceled_at: datetime | None
    updated_at: datetime
    version: int

    def to_request(self) -> OrderRequest:
        return OrderRequest(
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            time_in_force=self.time_in_force,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            trail_percent=self.trail_percent,
        )

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class StoredFill:
    id: int
    trade_id: int
    execution_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal
    timestamp: datetime


def _order(row: RowMapping) -> StoredOrder:
    return StoredOrder(
        id=row["id"],
        client_order_id=row["client_order_id"],
        broker_order_id=row["broker_order_id"],
        broker=row["broker"],
        symbol=row["symbol"],
        side=OrderSide(row["side"]),
        order_type=OrderType(row["order_type"]),
        order_class=OrderClass(row["order_class"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        quantity=row["quantity"],
        limit_price=row["limit_price"],
        stop_price=row["stop_price"],
        trail_percent=row["trail_percent"],
        status=OrderStatus(row["status"]),
        broker_status=row["broker_status"],
        filled_quantity=row["filled_quantity"],
        average_fill_price=row["average_fill_price"],
        error_message=row["error_message"],
        strategy_name=row["strategy_name"],
        parent_trade_id=row["parent_trade_id"],
        timestamp=row["timestamp"],
        submitted_at=row["submitted_at"],
        filled_at=row["filled_at"],
        canceled_at=row["canceled_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


def _fill(row: RowMapping) -> StoredFill:
    return StoredFill(
        id=row["id"],
        trade_id=row["trade_id"],
        execution_id=row["execution_id"],
        symbol=row["symbol"],
        side=OrderSide(row["side"]),
        quantity=row["quantity"],
        price=row["price"],
        commission=row["commission"],
        timestamp=row["timestamp"],
    )


_UNSET: Any = object()


class OrderStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_intent(
        self,
        request: OrderRequest,
        *,
        broker: str,
        created_at: datetime,
        strategy_name: str | None = None,
        decision_id: str | None = None,
        signal_event_id: str | None = None,
        status: OrderStatus = OrderStatus.PENDING,
        error_message: str | None = None,
    ) -> tuple[StoredOrder, bool]:
        """Persist the intent before anything is sent. Returns (order, created); an existing
        client_order_id returns the order already recorded and False."""
        values = {
            "client_order_id": request.client_order_id,
            "broker": broker,
            "symbol": request.symbol,
            "side": request.side.value,
            "order_type": request.order_type.value,
            "order_class": request.order_class.value,
            "time_in_force": request.time_in_force.value,
            "quantity": request.quantity,
            "limit_price": request.limit_price,
            "stop_price": request.stop_price,
            "trail_percent": request.trail_percent,
            "status": status.value,
            "error_message": error_message,
            "strategy_name": strategy_name,
            # The decision and signal rows, when the order came through the risk manager.
            "risk_decision_id": select(risk_decisions.c.id)
            .where(risk_decisions.c.decision_id == decision_id)
            .scalar_subquery(),
            "signal_id": select(signals.c.id).where(signals.c.event_id == signal_event_id).scalar_subquery(),
            "timestamp": created_at,
            "updated_at": created_at,
            "version": 0,
        }
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(trades).values(**values))
        except IntegrityError:
            existing = await self.by_client_order_id(request.client_order_id)
            if existing is None:
                raise
            return existing, False
        created = await self.by_client_order_id(request.client_order_id)
        assert created is not None
        return created, True

    async def import_broker_order(
        self, order: BrokerOrder, *, broker: str, at: datetime, parent_trade_id: int | None = None
    ) -> StoredOrder:
        """Record an order the broker holds and our books do not (close-all orders, bracket legs,
        an order placed by hand): the broker's truth enters the books as one row."""
        values = {
            "client_order_id": order.client_order_id[:64],
            "broker_order_id": order.broker_order_id,
            "broker": broker,
            "symbol": order.symbol,
            "side": order.side.value,
            "order_type": order.order_type.value,
            "order_class": order.order_class.value,
            "time_in_force": order.time_in_force.value,
            "quantity": order.quantity,
            "limit_price": order.limit_price,
            "stop_price": order.stop_price,
            "status": order.status.value,
            "broker_status": order.broker_status,
            "filled_quantity": order.filled_quantity,
            "average_fill_price": order.average_fill_price,
            "parent_trade_id": parent_trade_id,
            "timestamp": order.submitted_at or at,
            "submitted_at": order.submitted_at or at,
            "filled_at": order.filled_at,
            "canceled_at": order.canceled_at,
            "updated_at": at,
            "version": 0,
        }
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(trades).values(**values))
        except IntegrityError:
            pass  # imported concurrently by another worker; its row is the same order
        stored = await self.by_broker_order_id(order.broker_order_id)
        if stored is None:
            stored = await self.by_client_order_id(order.client_order_id[:64])
        assert stored is not None
        return stored

    async def _one(self, condition: Any) -> StoredOrder | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(trades).where(condition))).mappings().first()
        return None if row is None else _order(row)

    async def get(self, order_id: int) -> StoredOrder | None:
        return await self._one(trades.c.id == order_id)

    async def by_client_order_id(self, client_order_id: str) -> StoredOrder | None:
        return await self._one(trades.c.client_order_id == client_order_id)

    async def by_broker_order_id(self, broker_order_id: str) -> StoredOrder | None:
        return await self._one(trades.c.broker_order_id == broker_order_id)

    async def known_broker_order_ids(self, broker_order_ids: Collection[str]) -> set[str]:
        """Which of these broker order ids our books already hold (one query per 500 ids)."""
        wanted = list(broker_order_ids)
        known: set[str] = set()
        async with self._engine.connect() as connection:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = select(trades.c.broker_order_id).where(trades.c.broker_order_id.in_(chunk))
                known.update((await connection.execute(query)).scalars().all())
        return known

    async def recent(
        self,
        *,
        statuses: Sequence[OrderStatus] = (),
        symbol: str | None = None,
        limit: int = 100,
    ) -> list[StoredOrder]:
        query = select(trades).order_by(trades.c.timestamp.desc(), trades.c.id.desc()).limit(limit)
        if statuses:
            query = query.where(trades.c.status.in_([status.value for status in statuses]))
        if symbol:
            query = query.where(trades.c.symbol == symbol)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_order(row) for row in rows]

    async def open_orders(self) -> list[StoredOrder]:
        """Every order that is not final, oldest first."""
        open_statuses = [status.value for status in OrderStatus if not status.is_terminal]
        query = select(trades).where(trades.c.status.in_(open_statuses)).order_by(trades.c.id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_order(row) for row in rows]

    async def update(
        self,
        order: StoredOrder,
        *,
        at: datetime,
        status: OrderStatus | None = None,
        broker_order_id: str | None = _UNSET,
        broker_status: str | None = _UNSET,
        filled_quantity: Decimal | None = None,
        average_fill_price: Decimal | None = _UNSET,
        error_message: str | None = _UNSET,
        submitted_at: datetime | None = _UNSET,
        filled_at: datetime | None = _UNSET,
        canceled_at: datetime | None = _UNSET,
    ) -> StoredOrder:
        """Change the order as read at `order.version`; a status change must be legal."""
        values: dict[str, Any] = {"updated_at": at, "version": order.version + 1}
        if status is not None and status is not order.status:
            values["status"] = transition(order.status, status, order.client_order_id).value
        for name, value in (
            ("broker_order_id", broker_order_id),
            ("broker_status", broker_status),
            ("average_fill_price", average_fill_price),
            ("error_message", error_message),
            ("submitted_at", submitted_at),
            ("filled_at", filled_at),
            ("canceled_at", canceled_at),
        ):
            if value is not _UNSET:
                values[name] = value
        if filled_quantity is not None:
            values["filled_quantity"] = filled_quantity
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(trades)
                .where(trades.c.id == order.id, trades.c.version == order.version)
                .values(**values)
            )
            if result.rowcount != 1:
                raise ConcurrentUpdateError(
                    f"order {order.client_order_id} changed since version {order.version}; re-read it"
                )
            row = (await connection.execute(select(trades).where(trades.c.id == order.id))).mappings().one()
        return _order(row)

    async def sync_from_broker(
        self, order: StoredOrder, broker_order: BrokerOrder, at: datetime
    ) -> StoredOrder:
        """Take the broker's status and fill figures; a no-op when nothing changed."""
        unchanged = (
            order.status is broker_order.status
            and order.broker_order_id == broker_order.broker_order_id
            and order.filled_quantity == broker_order.filled_quantity
            and order.broker_status == broker_order.broker_status
        )
        if unchanged:
            return order
        average = broker_order.average_fill_price
        return await self.update(
            order,
            at=at,
            status=broker_order.status,
            broker_order_id=broker_order.broker_order_id,
            broker_status=broker_order.broker_status,
            filled_quantity=min(broker_order.filled_quantity, order.quantity),
            average_fill_price=None if average is None else to_price(average),
            submitted_at=order.submitted_at or broker_order.submitted_at or at,
            filled_at=broker_order.filled_at or order.filled_at,
            canceled_at=broker_order.canceled_at or order.canceled_at,
        )

    async def record_fill(self, order: StoredOrder, fill: BrokerFill) -> Position | None:
        """Record one execution and move the position, in one transaction. Returns the new position,
        or None when this execution was already recorded (a fill counts once, however often seen)."""
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    insert(fills),
                    {
                        "trade_id": order.id,
                        "execution_id": fill.execution_id,
                        "symbol": fill.symbol,
                        "side": fill.side.value,
                        "quantity": fill.quantity,
                        "price": fill.price,
                        "commission": fill.commission,
                        "timestamp": fill.filled_at,
                    },
                )
                return await apply_fill_to_position(
                    connection,
                    fill.symbol,
                    fill.side,
                    fill.quantity,
                    fill.price,
                    fill.commission,
                    fill.filled_at,
                )
        except IntegrityError:
            async with self._engine.connect() as connection:
                seen = await connection.scalar(
                    select(func.count()).select_from(fills).where(fills.c.execution_id == fill.execution_id)
                )
            if seen:
                return None
            raise

    async def fills_of(self, order_id: int) -> list[StoredFill]:
        query = select(fills).where(fills.c.trade_id == order_id).order_by(fills.c.timestamp, fills.c.id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_fill(row) for row in rows]

    async def known_execution_ids(self) -> set[str]:
        async with self._engine.connect() as connection:
            return set((await connection.execute(select(fills.c.execution_id))).scalars().all())

    async def identifiers_of_broker(self, broker: str) -> list[str]:
        """Every id the books hold for this broker's orders and fills (client order, broker order and
        execution ids), so a restarted in-memory broker can number its new ones past them."""
        ours = trades.c.broker == broker
        order_ids = select(trades.c.client_order_id, trades.c.broker_order_id).where(ours)
        execution_ids = select(fills.c.execution_id).join(trades, fills.c.trade_id == trades.c.id).where(ours)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(order_ids)).all()
            executions = (await connection.execute(execution_ids)).scalars().all()
        found = [client for client, _ in rows] + [broker_id for _, broker_id in rows if broker_id]
        return found + list(executions)

    async def cash_flow_of_fills(self) -> Decimal:
        """The cash every recorded fill moved (buys negative, commissions paid), for rebuilding a
        simulated account from the books."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(fills.c.side, fills.c.quantity, fills.c.price, fills.c.commission)
                )
            ).all()
        total = Decimal(0)
        for side, quantity, price, commission in rows:
            notional = quantity * price
            total += (-notional if side == OrderSide.BUY.value else notional) - commission
        return total

    async def latest_fill_at(self) -> datetime | None:
        async with self._engine.connect() as connection:
            latest: datetime | None = await connection.scalar(select(func.max(fills.c.timestamp)))
        if latest is not None and latest.tzinfo is None:
            latest = latest.replace(tzinfo=UTC)
        return latest

    async def signal_bar_time(self, signal_event_id: str) -> datetime | None:
        """The bar time of the signal behind a decision, when the strategy engine recorded it."""
        async with self._engine.connect() as connection:
            return await connection.scalar(
                select(signals.c.bar_timestamp).where(signals.c.event_id == signal_event_id)
            )
