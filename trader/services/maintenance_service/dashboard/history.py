"""Series the dashboard reads straight from the stores: equity and drawdown, fills, job runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import account_snapshots, fills, job_runs, trades

MARKET_ZONE = ZoneInfo("America/New_York")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def drawdowns(equities: list[Decimal]) -> list[Decimal]:
    """Fraction below the running peak at each point (0 at a new high, negative below it)."""
    result = []
    peak: Decimal | None = None
    for equity in equities:
        peak = equity if peak is None or equity > peak else peak
        result.append(equity / peak - 1 if peak > 0 else Decimal(0))
    return result


def day_returns(moments: Sequence[datetime], equities: Sequence[Decimal]) -> list[Decimal]:
    """Return since the market day began at each point: against the last equity of the day
    before (the first of the day when there is none), as the daily-loss limit counts it."""
    result = []
    day = None
    day_start = Decimal(0)
    previous: Decimal | None = None
    for moment, equity in zip(moments, equities, strict=True):
        market_day = moment.astimezone(MARKET_ZONE).date()
        if market_day != day:
            day = market_day
            day_start = previous if previous is not None else equity
        result.append(equity / day_start - 1 if day_start > 0 else Decimal(0))
        previous = equity
    return result


async def equity_curve(engine: AsyncEngine, *, limit: int) -> dict[str, Any]:
    query = (
        select(account_snapshots.c.timestamp, account_snapshots.c.equity, account_snapshots.c.cash)
        .order_by(account_snapshots.c.timestamp.desc(), account_snapshots.c.id.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        rows = list(reversed((await connection.execute(query)).all()))
    equities = [row.equity for row in rows]
    downs = drawdowns(equities)
    days = day_returns([row.timestamp for row in rows], equities)
    return {
        "points": [
            {
                "timestamp": row.timestamp.isoformat(),
                "equity": str(row.equity),
                "cash": str(row.cash),
                "drawdown": str(round(down, 6)),
                "day_return": str(round(day, 6)),
            }
            for row, down, day in zip(rows, downs, days, strict=True)
        ],
        "max_drawdown": str(round(min(downs), 6)) if downs else None,
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
