"""A small, hand-checkable trading history written straight into the tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.db.tables import account_snapshots, fills, market_data, positions, trades

DAY = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


async def seed_history(engine: AsyncEngine) -> None:
    # Daily bars stamped at the real NYSE opens of the first ten sessions from DAY (DST included).
    sessions = XNYSCalendar(date(2024, 1, 1), date(2024, 12, 31)).sessions_between(
        DAY.date(), date(2024, 3, 29)
    )
    bars = []
    for index, session in enumerate(sessions[:10]):
        for symbol, base in (("AAPL", Decimal("100")), ("MSFT", Decimal("300"))):
            price = base + index
            bars.append(
                {
                    "symbol": symbol,
                    "timestamp": session.open_at,
                    "timeframe": "1day",
                    "open_price": price,
                    "high_price": price + Decimal("1.5"),
                    "low_price": price - Decimal("1.25"),
                    "close_price": price + Decimal("0.12345678"),
                    "volume": Decimal(1000 + index),
                    "source": "test",
                }
            )
    orders = [
        ("c-1", "buy", Decimal(10), "momentum", DAY),
        ("c-2", "buy", Decimal(5), "momentum", DAY + timedelta(days=1)),
        ("c-3", "sell", Decimal(12), "momentum", DAY + timedelta(days=40)),
    ]
    prices = {"c-1": Decimal("100"), "c-2": Decimal("110"), "c-3": Decimal("120")}
    async with engine.begin() as connection:
        await connection.execute(insert(market_data), bars)
        for index, (client_id, side, quantity, strategy, at) in enumerate(orders, start=1):
            await connection.execute(
                insert(trades),
                {
                    "id": index,
                    "client_order_id": client_id,
                    "broker": "simulated",
                    "symbol": "AAPL",
                    "side": side,
                    "order_type": "market",
                    "time_in_force": "day",
                    "quantity": quantity,
                    "status": "filled",
                    "filled_quantity": quantity,
                    "average_fill_price": prices[client_id],
                    "strategy_name": strategy,
                    "timestamp": at,
                    "updated_at": at,
                },
            )
            await connection.execute(
                insert(fills),
                {
                    "trade_id": index,
                    "execution_id": f"x-{client_id}",
                    "symbol": "AAPL",
                    "side": side,
                    "quantity": quantity,
                    "price": prices[client_id],
                    "commission": Decimal("1"),
                    "timestamp": at + timedelta(minutes=1),
                },
            )
        await connection.execute(
            insert(positions),
            {
                "symbol": "AAPL",
                "quantity": Decimal(3),
                "average_cost": Decimal("110"),
                "updated_at": DAY + timedelta(days=40),
            },
        )
        await connection.execute(
            insert(account_snapshots),
            [
                {
                    "timestamp": DAY + timedelta(days=offset),
                    "cash": Decimal("100000"),
                    "equity": Decimal(equity),
                    "gross_exposure": Decimal(0),
                    "net_exposure": Decimal(0),
                    "realized_pnl": Decimal(0),
                    "unrealized_pnl": Decimal(0),
                    "source": "test",
                }
                for offset, equity in ((0, "100000"), (10, "110000"), (30, "99000"), (45, "104500"))
            ],
        )
