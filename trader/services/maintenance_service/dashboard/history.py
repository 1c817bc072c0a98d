"""Series the dashboard reads straight from the stores: equity and drawdown, fills, job runs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import account_snapshots, fills, job_runs, trades
from trader.charts.payload import equity_points


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def equity_curve(engine: AsyncEngine, *, limit: int) -> dict[str, Any]:
    query = (
        select(account_snapshots.c.timestamp, account_snapshots.c.equity, account_snapshots.c.cash)
        .order_by(account_snapshots.c.timestamp.desc(), account_snapshots.c.id.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        rows = list(reversed((await connection.execute(query)).all()))
    equities = [row.equity for row in rows]
    points = equity_points([row.timestamp for row in rows], equities, [row.cash for row in rows])
    return {
        "points": points,
        "max_drawdown": min((point["drawdown"] for point in points), key=Decimal, default=None),
        "latest_equity": str(equities[-1]) if equities else None,
    }


async def recent_fills(engine: AsyncEngine, *, limit: int) -> dict[str, Any]:
    query = (
        select(
            fills.c.timestamp,
            fills.c.symbol,
            fills.c.side,
            fills.c.quantity,
            fills.c.price,
            fills.c.commission,
            trades.c.client_order_id,
        )
        .join(trades, trades.c.id == fills.c.trade_id)
        .order_by(fills.c.timestamp.desc(), fills.c.id.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return {"fills": [{key: _plain(value) for key, value in row.items()} for row in rows]}


async def recent_job_runs(engine: AsyncEngine, *, limit: int) -> dict[str, Any]:
    query = (
        select(
            job_runs.c.job_name,
            job_runs.c.status,
            job_runs.c.started_at,
            job_runs.c.finished_at,
            job_runs.c.duration_ms,
            job_runs.c.attempt,
            job_runs.c.error_message,
        )
        .order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return {"job_runs": [{key: _plain(value) for key, value in row.items()} for row in rows]}
