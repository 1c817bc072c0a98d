"""Positions (one row per symbol): signed quantity, average cost, realised P&L, last mark.

Fills move a position through `trader.core.positions.Position.apply_fill`, inside the same
transaction that records the fill, so a fill is counted in the books exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trader.adapters.db.tables import positions
from trader.core.money import to_cash, to_price
from trader.core.orders import OrderSide
from trader.core.positions import Position


@dataclass(frozen=True, slots=True)
class StoredPosition:
    position: Position
    market_price: Decimal | None
    opened_at: datetime | None
    updated_at: datetime

    @property
    def symbol(self) -> str:
        return self.position.symbol

    @property
    def unrealized_pnl(self) -> Decimal | None:
        if self.market_price is None:
            return None
        return to_cash(self.position.unrealized_pnl(self.market_price))


def _from_row(row: RowMapping) -> StoredPosition:
    quantity = row["quantity"]
    return StoredPosition(
        position=Position(
            symbol=row["symbol"],
            quantity=quantity,
            average_cost=row["average_cost"] if quantity != 0 else Decimal(0),
            realized_pnl=row["realized_pnl"],
        ),
        market_price=row["market_price"],
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
    )


async def _locked_row(connection: AsyncConnection, symbol: str) -> RowMapping | None:
    query = select(positions).where(positions.c.symbol == symbol).with_for_update()
    return (await connection.execute(query)).mappings().first()


async def _write(
    connection: AsyncConnection,
    existing: RowMapping | None,
    position: Position,
    at: datetime,
    *,
    market_price: Decimal | None = None,
) -> None:
    values = _columns(position, at)
    if market_price is not None:
        values["market_price"] = market_price
    if existing is None:
        values.update(symbol=position.symbol, opened_at=None if position.is_flat else at)
        await connection.execute(insert(positions), values)
        return
    if existing["quantity"] == 0 and not position.is_flat:
        values["opened_at"] = at
    await connection.execute(update(positions).where(positions.c.id == existing["id"]).values(**values))


@dataclass(frozen=True, slots=True)
class FillMove:
    """One execution as it moves its symbol's position."""

    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal
    at: datetime


async def apply_fills_to_positions(connection: AsyncConnection, moves: Sequence[FillMove]) -> list[Position]:
    """Move positions by fills, in order, on `connection` (the caller's transaction): the symbols'
    rows read once (locked), each fill applied in memory, each row written once. Returns the
    position after each fill, in the same order."""
    if not moves:
        return []
    symbols = sorted({move.symbol for move in moves})
    query = select(positions).where(positions.c.symbol.in_(symbols)).with_for_update()
    existing = {row["symbol"]: row for row in (await connection.execute(query)).mappings()}
    current = {
        symbol: _from_row(existing[symbol]).position if symbol in existing else Position(symbol)
        for symbol in symbols
    }
    opened_at = {symbol: row["opened_at"] for symbol, row in existing.items()}
    updated_at: dict[str, datetime] = {}
    after: list[Position] = []
    for move in moves:
        before = current[move.symbol]
        moved = before.apply_fill(move.side, move.quantity, move.price, move.commission)
        if before.is_flat and not moved.is_flat:
            opened_at[move.symbol] = move.at  # opened (again) by this fill
        current[move.symbol] = moved
        updated_at[move.symbol] = move.at
        after.append(moved)
    new_rows = [
        {
            **_columns(current[symbol], updated_at[symbol]),
            "symbol": symbol,
            "opened_at": opened_at.get(symbol),
        }
        for symbol in symbols
        if symbol not in existing
    ]
    changed_rows = [
        {
            **_columns(current[symbol], updated_at[symbol]),
            "_id": existing[symbol]["id"],
            "opened_at": opened_at[symbol],
        }
        for symbol in symbols
        if symbol in existing
    ]
    if new_rows:
        await connection.execute(insert(positions), new_rows)
    if changed_rows:
        await connection.execute(_UPDATE_BY_ID, changed_rows)
    return after


def _columns(position: Position, at: datetime) -> dict[str, Any]:
    return {
        "quantity": position.quantity,
        "average_cost": to_price(position.average_cost),
        "realized_pnl": to_cash(position.realized_pnl),
        "updated_at": at,
    }


# Many rows, one statement (executemany): a batch of fills writes each symbol's row once.
_UPDATE_BY_ID = (
    update(positions)
    .where(positions.c.id == bindparam("_id"))
    .values(
        quantity=bindparam("quantity"),
        average_cost=bindparam("average_cost"),
        realized_pnl=bindparam("realized_pnl"),
        updated_at=bindparam("updated_at"),
        opened_at=bindparam("opened_at"),
    )
)


class PositionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all(self, *, include_flat: bool = False) -> list[StoredPosition]:
        query = select(positions).order_by(positions.c.symbol)
        if not include_flat:
            query = query.where(positions.c.quantity != 0)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_from_row(row) for row in rows]

    async def get(self, symbol: str) -> StoredPosition | None:
        async with self._engine.connect() as connection:
            row = (
                (await connection.execute(select(positions).where(positions.c.symbol == symbol)))
                .mappings()
                .first()
            )
        return None if row is None else _from_row(row)

    async def set_from_broker(
        self,
        symbol: str,
        quantity: Decimal,
        average_cost: Decimal,
        market_price: Decimal | None,
        at: datetime,
    ) -> Position:
        """Repair: take the broker's quantity and average cost; realised P&L so far is kept."""
        async with self._engine.begin() as connection:
            existing = await _locked_row(connection, symbol)
            realized = Decimal(0) if existing is None else existing["realized_pnl"]
            position = Position(
                symbol, quantity, average_cost if quantity != 0 else Decimal(0), realized_pnl=realized
            )
            await _write(connection, existing, position, at, market_price=market_price)
        return position

    async def mark(self, symbol: str, market_price: Decimal, at: datetime) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(positions)
                .where(positions.c.symbol == symbol)
                .values(market_price=to_price(market_price), updated_at=at)
            )
