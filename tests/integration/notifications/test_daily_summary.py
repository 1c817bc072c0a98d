"""The daily summary's figures come from the stores, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import account_snapshots, fills, trades
from trader.services.common.notifications import daily_summary, summarise_day

DAY = datetime(2025, 3, 14, tzinfo=UTC)


def _trade(number: int, status: str, at: datetime) -> dict[str, object]:
    return {
        "client_order_id": f"summary-{number}",
        "broker": "simulated",
        "symbol": "AAPL",
        "side": "buy",
        "order_type": "market",
        "time_in_force": "day",
        "quantity": Decimal(10),
        "status": status,
        "timestamp": at,
        "updated_at": at,
    }


def _snapshot(at: datetime, equity: str) -> dict[str, object]:
    return {
        "timestamp": at,
        "cash": Decimal(equity),
        "equity": Decimal(equity),
        "gross_exposure": Decimal(0),
        "net_exposure": Decimal(0),
        "realized_pnl": Decimal(0),
        "unrealized_pnl": Decimal(0),
        "source": "simulated",
    }


async def test_summary_counts_the_day_only(engine: AsyncEngine) -> None:
    inside = DAY + timedelta(hours=15)
    async with engine.begin() as connection:
        await connection.execute(
            insert(trades),
            [
                _trade(1, "filled", inside),
                _trade(2, "rejected", inside),
                _trade(3, "rejected", inside),
                _trade(4, "filled", DAY - timedelta(hours=1)),  # the day before
            ],
        )
        ids = {row.client_order_id: row.id for row in (await connection.execute(trades.select())).all()}
        await connection.execute(
            insert(fills),
            [
                {
                    "trade_id": ids["summary-1"],
                    "execution_id": "x-1",
                    "symbol": "AAPL",
                    "side": "buy",
                    "quantity": Decimal(4),
                    "price": Decimal("100.5"),
                    "timestamp": inside,
                },
                {
                    "trade_id": ids["summary-1"],
                    "execution_id": "x-2",
                    "symbol": "AAPL",
                    "side": "buy",
                    "quantity": Decimal(6),
                    "price": Decimal("101"),
                    "timestamp": inside,
                },
                {
                    "trade_id": ids["summary-4"],
                    "execution_id": "x-3",
                    "symbol": "AAPL",
                    "side": "buy",
                    "quantity": Decimal(10),
                    "price": Decimal("99"),
                    "timestamp": DAY - timedelta(hours=1),
                },
            ],
        )
        await connection.execute(
            insert(account_snapshots),
            [_snapshot(DAY - timedelta(hours=2), "100000"), _snapshot(inside, "100250.75")],
        )

    summary = await summarise_day(engine, DAY, DAY + timedelta(days=1))

    assert dict(summary.orders_by_status) == {"filled": 1, "rejected": 2}
    assert summary.fills == 2
    assert summary.traded_notional == Decimal("4") * Decimal("100.5") + Decimal("6") * Decimal("101")
    assert summary.equity == Decimal("100250.75")
    assert summary.equity_change == Decimal("250.75")
    notification = daily_summary(DAY + timedelta(days=1), summary)
    assert notification.kind == "daily_summary"
    assert "rejected 2" in notification.message and "+250.75" in notification.message
    assert ("rejected", "2") in notification.details
