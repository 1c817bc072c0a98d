"""Seeding the books the risk manager reads (what the collector and the executor would have written)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import account_snapshots, market_data, positions
from trader.core.events import SignalEmitted
from trader.core.market import Timeframe

# Tuesday 5 March 2024, 10:00 New York: the regular session is open.
OPEN_MARKET_AT = datetime.fromisoformat("2024-03-05T15:00:00+00:00")


def wavy_closes(count: int, start: float = 100.0, swing: float = 0.01) -> list[Decimal]:
    """Closes moving about 1% a day: an annualised volatility well under the default cap."""
    return [Decimal(str(round(start * (1 + swing * math.sin(day)), 2))) for day in range(count)]


async def insert_daily_bars(
    engine: AsyncEngine, symbol: str, closes: list[Decimal], last_at: datetime
) -> None:
    rows = []
    for offset, close in enumerate(reversed(closes)):
        rows.append(
            {
                "symbol": symbol,
                "timestamp": last_at - timedelta(days=offset),
                "timeframe": Timeframe.DAY1.value,
                "open_price": close,
                "high_price": close * Decimal("1.01"),
                "low_price": close * Decimal("0.99"),
                "close_price": close,
                "volume": Decimal(1000),
                "source": "test",
            }
        )
    async with engine.begin() as connection:
        await connection.execute(insert(market_data), rows)


async def insert_position(
    engine: AsyncEngine, symbol: str, quantity: Decimal, average_cost: Decimal, at: datetime
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(positions),
            {
                "symbol": symbol,
                "quantity": quantity,
                "average_cost": average_cost,
                "realized_pnl": Decimal(0),
                "opened_at": at,
                "updated_at": at,
            },
        )


async def insert_snapshot(engine: AsyncEngine, at: datetime, cash: Decimal, equity: Decimal) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(account_snapshots),
            {
                "timestamp": at,
                "cash": cash,
                "equity": equity,
                "buying_power": None,
                "gross_exposure": equity - cash,
                "net_exposure": equity - cash,
                "realized_pnl": Decimal(0),
                "unrealized_pnl": Decimal(0),
                "source": "simulated",
            },
        )


async def seed_drawdown(
    engine: AsyncEngine, at: datetime, symbol: str = "AAPL", *, lost_today: bool = False
) -> None:
    """A 100,000 account that put half into 500 shares at 100, which now trade at 60 (20% down):
    lost over the previous days, or (`lost_today`) all of it today."""
    await insert_snapshot(engine, at - timedelta(days=3), Decimal(50000), Decimal(100000))
    if not lost_today:
        await insert_snapshot(engine, at - timedelta(days=1), Decimal(50000), Decimal(80000))
    await insert_position(engine, symbol, Decimal(500), Decimal(100), at - timedelta(days=3))
    closes = [*wavy_closes(29), Decimal(60)]
    await insert_daily_bars(engine, symbol, closes, at - timedelta(minutes=30))


def signal(
    symbol: str,
    direction: str,
    price: Decimal,
    at: datetime,
    strategy_name: str = "sma_crossover",
    bar_minutes: int = 1,
) -> SignalEmitted:
    """A one-minute bar's signal, emitted as the bar closes at `at`."""
    return SignalEmitted(
        occurred_at=at,
        strategy_name=strategy_name,
        symbol=symbol,
        timeframe=Timeframe.MINUTE1,
        bar_at=at - timedelta(minutes=bar_minutes),
        direction=direction,
        strength=Decimal("0.8"),
        price=price,
        reason="test",
    )


def client(app: FastAPI, ip: str = "192.168.1.50") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(ip, 50000)), base_url="http://risk"
    )
