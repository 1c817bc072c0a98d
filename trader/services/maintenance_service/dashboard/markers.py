"""What happened on one symbol between two moments, read from the stores: signals, orders, fills,
and the price levels of its open orders (stops and targets) and position (average cost)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import fills, positions, signals, trades
from trader.charts.payload import Marker
from trader.core.orders import TERMINAL_STATUSES

_TERMINAL = [status.value for status in TERMINAL_STATUSES]
_STOP_TYPES = ("stop", "stop_limit", "trailing_stop")


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass(frozen=True, slots=True)
class SymbolActivity:
    markers: list[Marker]
    levels: list[dict[str, Any]]


async def symbol_activity(
    engine: AsyncEngine, symbol: str, *, start: datetime, end: datetime, strategy: str | None
) -> SymbolActivity:
    """Markers in [start, end) and the levels in force now."""
    signal_query = select(signals).where(
        and_(signals.c.symbol == symbol, signals.c.bar_timestamp >= start, signals.c.bar_timestamp < end)
    )
    if strategy is not None:
        signal_query = signal_query.where(signals.c.strategy_name == strategy)
    order_query = select(trades).where(
        and_(trades.c.symbol == symbol, trades.c.timestamp >= start, trades.c.timestamp < end)
    )
    fill_query = select(fills, trades.c.client_order_id).join(trades, trades.c.id == fills.c.trade_id)
    fill_query = fill_query.where(
        and_(fills.c.symbol == symbol, fills.c.timestamp >= start, fills.c.timestamp < end)
    )
    open_query = select(trades).where(and_(trades.c.symbol == symbol, trades.c.status.not_in(_TERMINAL)))
    position_query = select(positions).where(positions.c.symbol == symbol)
    async with engine.connect() as connection:
        signal_rows = (await connection.execute(signal_query)).mappings().all()
        order_rows = (await connection.execute(order_query)).mappings().all()
        fill_rows = (await connection.execute(fill_query)).mappings().all()
        open_rows = (await connection.execute(open_query)).mappings().all()
        position = (await connection.execute(position_query)).mappings().first()
    markers = [_signal_marker(row) for row in signal_rows if row["direction"] in ("buy", "sell")]
    markers += [_order_marker(row) for row in order_rows]
    markers += [_fill_marker(row) for row in fill_rows]
    return SymbolActivity(markers, _levels(open_rows, position))


def _signal_marker(row: Any) -> Marker:
    return Marker(
        kind="signal",
        side=row["direction"],
        # A signal belongs to the bar it was computed on, whenever it was stored.
        at=row["bar_timestamp"],
        label=f"{row['strategy_name']} {row['direction']}",
        price=_number(row["price"]),
        reference=row["event_id"],
    )


def _order_marker(row: Any) -> Marker:
    return Marker(
        kind="order",
        side=row["side"],
        at=row["timestamp"],
        label=f"{row['side']} {_quantity(row['quantity'])} {row['order_type']} · {row['status']}",
        price=_number(row["limit_price"] or row["stop_price"]),
        reference=row["client_order_id"],
    )


def _fill_marker(row: Any) -> Marker:
    return Marker(
        kind="fill",
        side=row["side"],
        at=row["timestamp"],
        label=f"{row['side']} {_quantity(row['quantity'])} @ {row['price'].normalize():f}",
        price=_number(row["price"]),
        reference=row["client_order_id"],
    )


def _levels(open_rows: Any, position: Any) -> list[dict[str, Any]]:
    levels = []
    for row in open_rows:
        if row["order_type"] in _STOP_TYPES and row["stop_price"] is not None:
            levels.append(_level("stop", row["stop_price"], f"stop {row['side']}", row["client_order_id"]))
        elif row["order_type"] == "limit" and row["limit_price"] is not None:
            # A limit leg of a parent order is its take-profit target; a lone limit is an entry.
            kind = "target" if row["parent_trade_id"] is not None else "limit"
            levels.append(_level(kind, row["limit_price"], f"{kind} {row['side']}", row["client_order_id"]))
    if position is not None and position["quantity"] != 0:
        levels.append(_level("average_cost", position["average_cost"], "average cost", position["symbol"]))
    return levels


def _level(kind: str, price: Decimal, label: str, reference: str) -> dict[str, Any]:
    return {"kind": kind, "price": float(price), "label": label, "reference": reference}
