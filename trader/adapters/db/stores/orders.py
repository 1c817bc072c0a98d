"""Orders as the guide's `trades` rows (one row per order), their executions in `fills`.

Every status change goes through `trader.core.orders.transition`, and every update names the
`version` it read (optimistic locking): two writers acting on the same order cannot both win;
the loser gets `ConcurrentUpdateError` and re-reads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, Select, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trader.adapters.db.stores.positions import FillMove, apply_fills_to_positions
from trader.adapters.db.tables import fills, risk_decisions, signals, trades
from trader.core.broker import BrokerFill, BrokerOrder, OrderClass, OrderRequest
from trader.core.money import to_price
from trader.core.orders import (
    BROKER_STATUS_MAP,
    IllegalTransitionError,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    can_transition,
    transition,
)
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
    take_profit_price: Decimal | None = None
    stop_loss_price: Decimal | None = None

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
            order_class=self.order_class,
            take_profit_price=self.take_profit_price,
            stop_loss_price=self.stop_loss_price,
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
    commission: Decimal  # everything charged beyond the price, regulatory fees included
    timestamp: datetime
    cumulative_quantity: Decimal | None = None
    regulatory_fees: Decimal = Decimal(0)


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
        take_profit_price=row["take_profit_price"],
        stop_loss_price=row["stop_loss_price"],
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
        cumulative_quantity=row["cumulative_quantity"],
        regulatory_fees=row["regulatory_fees"],
    )


_UNSET: Any = object()
# Rows per statement in batched reads and writes: well inside SQLite's and asyncpg's parameter limits.
_CHUNK = 500


async def _select_in(
    connection: AsyncConnection, query: Select[Any], column: Any, values: Iterable[Any]
) -> list[Any]:
    """`query`'s rows (SQLAlchemy Rows) where `column` is one of `values`: one statement per _CHUNK
    distinct values."""
    wanted = list(dict.fromkeys(values))
    rows: list[Any] = []
    for start in range(0, len(wanted), _CHUNK):
        rows.extend(await connection.execute(query.where(column.in_(wanted[start : start + _CHUNK]))))
    return rows


async def _pairs_in(
    connection: AsyncConnection, query: Select[Any], column: Any, values: Iterable[Any]
) -> dict[Any, Any]:
    """First column -> second column of `_select_in`'s rows."""
    return {row[0]: row[1] for row in await _select_in(connection, query, column, values)}


@dataclass(frozen=True, slots=True)
class OrderOrigin:
    """Where an order came from, so its `trades` row links to the signal and the risk decision."""

    strategy_name: str | None = None
    decision_id: str | None = None
    signal_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order about to be recorded: to be sent (PENDING), or REJECTED with the refusal that
    kept it from the broker."""

    request: OrderRequest
    origin: OrderOrigin = OrderOrigin()
    refusal: str | None = None

    @property
    def status(self) -> OrderStatus:
        return OrderStatus.PENDING if self.refusal is None else OrderStatus.REJECTED


@dataclass(frozen=True, slots=True)
class _Links:
    """Row ids of the signals and risk decisions the intents came from."""

    signals: dict[str, int]
    decisions: dict[str, int]


async def _links(connection: AsyncConnection, intents: Sequence[OrderIntent]) -> _Links:
    signal_ids = {intent.origin.signal_event_id for intent in intents if intent.origin.signal_event_id}
    decision_ids = {intent.origin.decision_id for intent in intents if intent.origin.decision_id}
    by_event = select(signals.c.event_id, signals.c.id)
    by_decision = select(risk_decisions.c.decision_id, risk_decisions.c.id)
    return _Links(
        signals=await _pairs_in(connection, by_event, signals.c.event_id, signal_ids),
        decisions=await _pairs_in(connection, by_decision, risk_decisions.c.decision_id, decision_ids),
    )


def _intent_values(intent: OrderIntent, broker: str, created_at: datetime, links: _Links) -> dict[str, Any]:
    request, origin = intent.request, intent.origin
    return {
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
        "take_profit_price": request.take_profit_price,
        "stop_loss_price": request.stop_loss_price,
        "status": intent.status.value,
        "error_message": intent.refusal,
        "strategy_name": origin.strategy_name,
        # The decision and signal rows, when the order came through the risk manager.
        "risk_decision_id": links.decisions.get(origin.decision_id or ""),
        "signal_id": links.signals.get(origin.signal_event_id or ""),
        "timestamp": created_at,
        "updated_at": created_at,
        "version": 0,
    }


def _changed_values(
    order: StoredOrder,
    at: datetime,
    *,
    status: OrderStatus | None = None,
    filled_quantity: Decimal | None = None,
    **columns: Any,
) -> dict[str, Any]:
    """The columns an update writes; a status change goes through the transition table (raises)."""
    values: dict[str, Any] = {"updated_at": at, "version": order.version + 1}
    if status is not None and status is not order.status:
        values["status"] = transition(order.status, status, order.client_order_id).value
    values.update({name: value for name, value in columns.items() if value is not _UNSET})
    if filled_quantity is not None:
        values["filled_quantity"] = filled_quantity
    return values


async def _update_at_version(connection: AsyncConnection, order: StoredOrder, values: dict[str, Any]) -> bool:
    """Write `values` if the row is still at the version `order` was read at."""
    result = await connection.execute(
        update(trades).where(trades.c.id == order.id, trades.c.version == order.version).values(**values)
    )
    return bool(result.rowcount == 1)


class _ChangedMeanwhileError(Exception):
    """A batch update found a row changed after its versions were read; the batch is rolled back."""


# Every column a broker sync writes, one statement for many orders (executemany).
_SYNC_COLUMNS = (
    "status",
    "broker_order_id",
    "broker_status",
    "filled_quantity",
    "average_fill_price",
    "submitted_at",
    "filled_at",
    "canceled_at",
    "updated_at",
    "version",
)
_SYNC_UPDATE = (
    update(trades)
    .where(trades.c.id == bindparam("_id"), trades.c.version == bindparam("_version"))
    .values({name: bindparam(name) for name in _SYNC_COLUMNS})
)


async def _write_many_at_version(
    connection: AsyncConnection, to_write: Sequence[tuple[StoredOrder, dict[str, Any]]]
) -> set[int]:
    """Write broker syncs in one statement, to the rows still at the versions they were read at;
    returns the ids written. The rows are locked as their versions are read (PostgreSQL), so
    none can change before the write; SQLite takes no row locks, so there the statement's row
    count proves that no row changed in between (or the batch is rolled back)."""
    if not to_write:
        return set()
    locked = select(trades.c.id, trades.c.version).with_for_update()
    versions: dict[int, int] = await _pairs_in(
        connection, locked, trades.c.id, sorted(o.id for o, _ in to_write)
    )
    ready = [(order, values) for order, values in to_write if versions.get(order.id) == order.version]
    if not ready:
        return set()
    # A broker sync writes every column of _SYNC_COLUMNS but the status when it stays the same.
    parameters = [
        {
            **values,
            "status": values.get("status", order.status.value),
            "_id": order.id,
            "_version": order.version,
        }
        for order, values in ready
    ]
    result = await connection.execute(_SYNC_UPDATE, parameters)
    if connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(parameters):
        raise _ChangedMeanwhileError
    return {order.id for order, _values in ready}


def _stale(order: StoredOrder, broker_order: BrokerOrder) -> bool:
    """Whether the broker's copy is older than what the books hold: it has fewer shares filled
    (fills never un-happen), or the books' status, itself the broker's word, was reached from the
    copy's. That happens when two channels race: the order POST's answer ("new") recorded after
    the order-update stream's fill. A copy that truly contradicts the books is not stale."""
    if broker_order.filled_quantity < order.filled_quantity:
        return True
    ours_from_broker = order.broker_status is not None and (
        BROKER_STATUS_MAP.get(order.broker_status.lower()) is order.status
    )
    return (
        ours_from_broker
        and broker_order.status is not order.status
        and not can_transition(order.status, broker_order.status)
        and can_transition(broker_order.status, order.status)
    )


def _broker_changes(order: StoredOrder, broker_order: BrokerOrder, at: datetime) -> dict[str, Any] | None:
    """What taking the broker's copy changes in our row; None when nothing does, or when the copy
    is older than the books' (see `_stale`)."""
    if _stale(order, broker_order):
        return None
    unchanged = (
        order.status is broker_order.status
        and order.broker_order_id == broker_order.broker_order_id
        and order.filled_quantity == broker_order.filled_quantity
        and order.broker_status == broker_order.broker_status
    )
    if unchanged:
        return None
    average = broker_order.average_fill_price
    return {
        "status": broker_order.status,
        "broker_order_id": broker_order.broker_order_id,
        "broker_status": broker_order.broker_status,
        "filled_quantity": min(broker_order.filled_quantity, order.quantity),
        "average_fill_price": None if average is None else to_price(average),
        "submitted_at": order.submitted_at or broker_order.submitted_at or at,
        "filled_at": broker_order.filled_at or order.filled_at,
        "canceled_at": broker_order.canceled_at or order.canceled_at,
    }


async def _rows_by_id(connection: AsyncConnection, order_ids: Collection[int]) -> dict[int, StoredOrder]:
    rows = await _select_in(connection, select(trades), trades.c.id, sorted(order_ids))
    return {row.id: _order(row._mapping) for row in rows}


async def _record_fills(
    connection: AsyncConnection, executions: Sequence[tuple[StoredOrder, BrokerFill]]
) -> list[Position]:
    """The executions' rows in one statement, then the positions they move (each row once)."""
    await connection.execute(
        insert(fills),
        [
            {
                "trade_id": order.id,
                "execution_id": fill.execution_id,
                "symbol": fill.symbol,
                "side": fill.side.value,
                "quantity": fill.quantity,
                "price": fill.price,
                "commission": fill.commission,
                "regulatory_fees": fill.regulatory_fees,
                "timestamp": fill.filled_at,
                "cumulative_quantity": fill.cumulative_quantity,
            }
            for order, fill in executions
        ],
    )
    return await apply_fills_to_positions(
        connection,
        [
            FillMove(fill.symbol, fill.side, fill.quantity, fill.price, fill.commission, fill.filled_at)
            for _order, fill in executions
        ],
    )


class OrderStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_intent(
        self,
        request: OrderRequest,
        *,
        broker: str,
        created_at: datetime,
        origin: OrderOrigin = OrderOrigin(),
        refusal: str | None = None,
    ) -> tuple[StoredOrder, bool]:
        """Persist the intent before anything is sent. Returns (order, created); an existing
        client_order_id returns the order already recorded and False."""
        intent = OrderIntent(request, origin, refusal)
        stored = await self.create_intents([intent], broker=broker, created_at=created_at)
        return stored[request.client_order_id]

    async def create_intents(
        self, intents: Sequence[OrderIntent], *, broker: str, created_at: datetime
    ) -> dict[str, tuple[StoredOrder, bool]]:
        """Persist a batch of intents in one transaction, before any of them is sent.

        Returns client_order_id -> (order, created). An id the books already hold (a redelivery
        racing its first delivery) makes the batch fall back to one transaction per intent, so
        each intent learns whether it was first; the ids must be distinct within the batch."""
        if len({intent.request.client_order_id for intent in intents}) != len(intents):
            raise ValueError("a batch of intents names the same client_order_id twice")
        async with self._engine.connect() as connection:
            links = await _links(connection, intents)
        rows = [_intent_values(intent, broker, created_at, links) for intent in intents]
        created: set[str] = set()
        refused: dict[str, IntegrityError] = {}
        try:
            async with self._engine.begin() as connection:
                for start in range(0, len(rows), _CHUNK):
                    await connection.execute(insert(trades), rows[start : start + _CHUNK])
            created = {row["client_order_id"] for row in rows}
        except IntegrityError:
            for row in rows:
                try:
                    async with self._engine.begin() as connection:
                        await connection.execute(insert(trades), row)
                except IntegrityError as error:
                    refused[row["client_order_id"]] = error  # recorded already, unless the read says not
                    continue
                created.add(row["client_order_id"])
        stored = await self.by_client_order_ids([row["client_order_id"] for row in rows])
        result: dict[str, tuple[StoredOrder, bool]] = {}
        for row in rows:
            client_order_id = row["client_order_id"]
            order = stored.get(client_order_id)
            if order is None:
                raise refused[client_order_id]  # refused for another reason than being there already
            result[client_order_id] = (order, client_order_id in created)
        return result

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

    async def by_client_order_ids(self, client_order_ids: Collection[str]) -> dict[str, StoredOrder]:
        """client_order_id -> order, for the ids the books hold (one query per 500 ids)."""
        found = await self._many(trades.c.client_order_id, client_order_ids)
        return {order.client_order_id: order for order in found}

    async def by_broker_order_ids(self, broker_order_ids: Collection[str]) -> dict[str, StoredOrder]:
        """broker_order_id -> order, for the ids the books hold (one query per 500 ids)."""
        found = await self._many(trades.c.broker_order_id, broker_order_ids)
        return {order.broker_order_id: order for order in found if order.broker_order_id is not None}

    async def _many(self, column: Any, values: Collection[Any]) -> list[StoredOrder]:
        async with self._engine.connect() as connection:
            rows = await _select_in(connection, select(trades), column, values)
        return [_order(row._mapping) for row in rows]

    async def known_broker_order_ids(self, broker_order_ids: Collection[str]) -> set[str]:
        """Which of these broker order ids our books already hold (one query per 500 ids)."""
        column = trades.c.broker_order_id
        async with self._engine.connect() as connection:
            rows = await _select_in(connection, select(column), column, broker_order_ids)
        return {row[0] for row in rows}

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
        parent_trade_id: int | None = _UNSET,
    ) -> StoredOrder:
        """Change the order as read at `order.version`; a status change must be legal."""
        values = _changed_values(
            order,
            at,
            status=status,
            filled_quantity=filled_quantity,
            broker_order_id=broker_order_id,
            broker_status=broker_status,
            average_fill_price=average_fill_price,
            error_message=error_message,
            submitted_at=submitted_at,
            filled_at=filled_at,
            canceled_at=canceled_at,
            parent_trade_id=parent_trade_id,
        )
        async with self._engine.begin() as connection:
            if not await _update_at_version(connection, order, values):
                raise ConcurrentUpdateError(
                    f"order {order.client_order_id} changed since version {order.version}; re-read it"
                )
            row = (await connection.execute(select(trades).where(trades.c.id == order.id))).mappings().one()
        return _order(row)

    async def sync_from_broker(
        self, order: StoredOrder, broker_order: BrokerOrder, at: datetime, *, error_message: str | None = None
    ) -> StoredOrder:
        """Take the broker's status and fill figures (with `error_message`, when given, beside a
        change); a no-op when nothing changed or the copy is older than the books'."""
        changes = _broker_changes(order, broker_order, at)
        if changes is None:
            return order
        if error_message is not None:
            changes["error_message"] = error_message
        return await self.update(order, at=at, **changes)

    async def sync_many_from_broker(
        self, pairs: Sequence[tuple[StoredOrder, BrokerOrder]], at: datetime
    ) -> list[StoredOrder | None]:
        """`sync_from_broker` for a batch, in one transaction; same order as `pairs`.

        None where the order changed since it was read, or the broker's status cannot follow
        ours: the caller takes those one by one (re-read, or report the disagreement)."""
        planned: list[dict[str, Any] | None] = []
        for order, broker_order in pairs:
            changes = _broker_changes(order, broker_order, at)
            try:
                planned.append({} if changes is None else _changed_values(order, at, **changes))
            except IllegalTransitionError:
                planned.append(None)
        to_write = [(order, values) for (order, _), values in zip(pairs, planned, strict=True) if values]
        try:
            async with self._engine.begin() as connection:
                written = await _write_many_at_version(connection, to_write)
                rows = await _rows_by_id(connection, written)
        except _ChangedMeanwhileError:
            # Another writer got in between (SQLite): each order on its own, each version checked.
            async with self._engine.begin() as connection:
                written = {
                    order.id
                    for order, order_values in to_write
                    if await _update_at_version(connection, order, order_values)
                }
                rows = await _rows_by_id(connection, written)
        synced: list[StoredOrder | None] = []
        for (order, _broker_order), values in zip(pairs, planned, strict=True):
            if values is None:  # the broker's status cannot follow ours
                synced.append(None)
            elif not values:  # nothing to take
                synced.append(order)
            else:  # None when the order changed since it was read
                synced.append(rows.get(order.id))
        return synced

    async def record_fill(self, order: StoredOrder, fill: BrokerFill) -> Position | None:
        """Record one execution and move the position, in one transaction. Returns the new position,
        or None when this execution was already recorded (a fill counts once, however often seen)."""
        (position,) = await self.record_fills([(order, fill)])
        return position

    async def record_fills(
        self, executions: Sequence[tuple[StoredOrder, BrokerFill]]
    ) -> list[Position | None]:
        """Record executions in order, each moving its position, in one transaction; same order as
        `executions`, None for an execution already recorded. When one was (a fill seen twice),
        the batch falls back to one transaction per fill, so the others still count once."""
        if not executions:
            return []
        try:
            async with self._engine.begin() as connection:
                return list(await _record_fills(connection, executions))
        except IntegrityError as error:
            if len(executions) == 1:
                await self._raise_unless_recorded(*executions[0], error)
                return [None]
        recorded: list[Position | None] = []
        for order, fill in executions:
            try:
                async with self._engine.begin() as connection:
                    recorded.extend(await _record_fills(connection, [(order, fill)]))
            except IntegrityError as error:
                await self._raise_unless_recorded(order, fill, error)
                recorded.append(None)
        return recorded

    async def _raise_unless_recorded(
        self, order: StoredOrder, fill: BrokerFill, error: IntegrityError
    ) -> None:
        """A refused fill is fine when the books hold it already, by its execution id or by its
        order and cumulative quantity (the same fill seen on another channel); otherwise the
        refusal was for another reason, and is raised."""
        same = fills.c.execution_id == fill.execution_id
        if fill.cumulative_quantity is not None:
            same = or_(
                same,
                and_(fills.c.trade_id == order.id, fills.c.cumulative_quantity == fill.cumulative_quantity),
            )
        async with self._engine.connect() as connection:
            seen = await connection.scalar(select(func.count()).select_from(fills).where(same))
        if not seen:
            raise error

    async def fills_of(self, order_id: int) -> list[StoredFill]:
        query = select(fills).where(fills.c.trade_id == order_id).order_by(fills.c.timestamp, fills.c.id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_fill(row) for row in rows]

    async def unrecorded_fills(self, candidates: Sequence[BrokerFill]) -> list[BrokerFill]:
        """The broker's fills the books do not hold yet, by execution id nor by (order,
        cumulative quantity): a fill first seen on the stream is known when the fill listing
        brings it again under another id."""
        by_execution = select(fills.c.execution_id, fills.c.id)
        by_position = select(trades.c.broker_order_id, fills.c.cumulative_quantity).join(
            trades, fills.c.trade_id == trades.c.id
        )
        async with self._engine.connect() as connection:
            executions = await _pairs_in(
                connection, by_execution, fills.c.execution_id, [fill.execution_id for fill in candidates]
            )
            counted = await _select_in(
                connection,
                by_position.where(fills.c.cumulative_quantity.is_not(None)),
                trades.c.broker_order_id,
                [fill.broker_order_id for fill in candidates if fill.cumulative_quantity is not None],
            )
        cumulative = {(row[0], row[1]) for row in counted}
        return [
            fill
            for fill in candidates
            if fill.execution_id not in executions
            and (fill.broker_order_id, fill.cumulative_quantity) not in cumulative
        ]

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

    async def signal_bar_times(self, signal_event_ids: Collection[str]) -> dict[str, datetime]:
        """event id -> bar time of the signals behind decisions, for those the strategy engine recorded."""
        query = select(signals.c.event_id, signals.c.bar_timestamp)
        async with self._engine.connect() as connection:
            return await _pairs_in(connection, query, signals.c.event_id, signal_event_ids)
