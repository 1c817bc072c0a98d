"""What the trade executor needs of its stores, as narrow protocols.

The executor's parts are written against these, not against the SQL stores, so a unit test can
hand them a small fake and the stores keep their own contract tests on SQLite and PostgreSQL.
The records crossing them (`StoredOrder`, `OrderIntent`...) still live beside the order store;
only their types are imported here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from trader.adapters.db.stores.orders import OrderIntent, StoredFill, StoredOrder
from trader.adapters.db.stores.positions import StoredPosition
from trader.adapters.db.stores.system_flags import MaintenanceMode
from trader.core.broker import BrokerFill, BrokerOrder
from trader.core.orders import OrderStatus
from trader.core.positions import Position
from trader.core.risk.state import StateChange, TradingState


class OrderBook(Protocol):
    """The `trades` rows and their `fills`: each status change through the transition table, each
    update at the version it read (a concurrent change raises `ConcurrentUpdateError`)."""

    async def create_intents(
        self, intents: Sequence[OrderIntent], *, broker: str, created_at: datetime
    ) -> dict[str, tuple[StoredOrder, bool]]: ...

    async def import_broker_order(
        self, order: BrokerOrder, *, broker: str, at: datetime, parent_trade_id: int | None = None
    ) -> StoredOrder: ...

    async def get(self, order_id: int) -> StoredOrder | None: ...

    async def by_client_order_id(self, client_order_id: str) -> StoredOrder | None: ...

    async def by_broker_order_id(self, broker_order_id: str) -> StoredOrder | None: ...

    async def by_client_order_ids(self, client_order_ids: Collection[str]) -> dict[str, StoredOrder]: ...

    async def by_broker_order_ids(self, broker_order_ids: Collection[str]) -> dict[str, StoredOrder]: ...

    async def known_broker_order_ids(self, broker_order_ids: Collection[str]) -> set[str]: ...

    async def recent(
        self, *, statuses: Sequence[OrderStatus] = (), symbol: str | None = None, limit: int = 100
    ) -> list[StoredOrder]: ...

    async def open_orders(self) -> list[StoredOrder]: ...

    async def update(
        self,
        order: StoredOrder,
        *,
        at: datetime,
        status: OrderStatus | None = None,
        broker_order_id: str | None = ...,
        broker_status: str | None = ...,
        filled_quantity: Decimal | None = None,
        average_fill_price: Decimal | None = ...,
        error_message: str | None = ...,
        submitted_at: datetime | None = ...,
        filled_at: datetime | None = ...,
        canceled_at: datetime | None = ...,
        parent_trade_id: int | None = ...,
    ) -> StoredOrder: ...

    async def sync_from_broker(
        self, order: StoredOrder, broker_order: BrokerOrder, at: datetime, *, error_message: str | None = None
    ) -> StoredOrder: ...

    async def sync_many_from_broker(
        self, pairs: Sequence[tuple[StoredOrder, BrokerOrder]], at: datetime
    ) -> list[StoredOrder | None]: ...

    async def record_fills(
        self, executions: Sequence[tuple[StoredOrder, BrokerFill]]
    ) -> list[Position | None]: ...

    async def fills_of(self, order_id: int) -> list[StoredFill]: ...

    async def unrecorded_fills(self, candidates: Sequence[BrokerFill]) -> list[BrokerFill]: ...

    async def latest_fill_at(self) -> datetime | None: ...

    async def signal_bar_times(self, signal_event_ids: Collection[str]) -> dict[str, datetime]: ...


class PositionBook(Protocol):
    async def all(self, *, include_flat: bool = False) -> list[StoredPosition]: ...

    async def mark(self, symbol: str, market_price: Decimal, at: datetime) -> None: ...

    async def set_from_broker(
        self,
        symbol: str,
        quantity: Decimal,
        average_cost: Decimal,
        market_price: Decimal | None,
        at: datetime,
    ) -> Position: ...


class TradingStateLog(Protocol):
    async def current_state(self) -> TradingState: ...

    async def record(self, change: StateChange) -> None: ...


class MaintenanceSwitch(Protocol):
    """Maintenance mode makes the system read-only: no new orders, cancels still pass."""

    async def current(self) -> MaintenanceMode: ...
