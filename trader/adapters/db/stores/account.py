"""Account snapshots: the broker's account as the executor read it, at start, after fills, each minute.

Written by the executor's account recorder; read by the risk manager (cash, buying power, the
high-water mark, the day's starting equity), the dashboard's equity curve, the daily summary and
the exports. A broker answer that could not be used is kept as a flag (`account.problem`) until the
next good reading, so the risk manager can refuse with the broker's reason instead of a silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trader.adapters.db.tables import account_snapshots, fills, positions, system_flags
from trader.core.account import AccountSnapshot, BooksPosition, BooksState
from trader.core.money import to_cash

ACCOUNT_PROBLEM_FLAG = "account.problem"
MAX_HISTORY = 10_000


@dataclass(frozen=True, slots=True)
class AccountProblem:
    message: str
    seen_at: datetime


def _snapshot(row: RowMapping) -> AccountSnapshot:
    return AccountSnapshot(
        id=row["id"],
        taken_at=row["timestamp"],
        source=row["source"],
        cash=row["cash"],
        equity=row["equity"],
        buying_power=row["buying_power"],
        long_market_value=row["long_market_value"] if row["long_market_value"] is not None else Decimal(0),
        short_market_value=row["short_market_value"] if row["short_market_value"] is not None else Decimal(0),
        last_equity=row["last_equity"],
        pattern_day_trader=bool(row["pattern_day_trader"]),
        daytrade_count=int(row["daytrade_count"] or 0),
        shorting_enabled=bool(row["shorting_enabled"]),
        realized_pnl=row["realized_pnl"],
        unrealized_pnl=row["unrealized_pnl"],
        fills_through_id=row["fills_through_id"],
    )


def _newest_first(query: Any) -> Any:
    return query.order_by(account_snapshots.c.timestamp.desc(), account_snapshots.c.id.desc())


async def latest_snapshot(
    connection: AsyncConnection, at: datetime, *, in_step: bool = False, since: datetime | None = None
) -> AccountSnapshot | None:
    """The newest snapshot taken by `at` (and at or after `since`); only in-step ones if asked."""
    query = select(account_snapshots).where(account_snapshots.c.timestamp <= at)
    if in_step:
        query = query.where(account_snapshots.c.fills_through_id.is_not(None))
    if since is not None:
        query = query.where(account_snapshots.c.timestamp >= since)
    row = (await connection.execute(_newest_first(query).limit(1))).mappings().first()
    return None if row is None else _snapshot(row)


async def high_water_mark(
    connection: AsyncConnection, at: datetime, since: datetime | None = None
) -> Decimal | None:
    """The highest equity any snapshot recorded by `at` (since `since`, when given)."""
    query = select(func.max(account_snapshots.c.equity)).where(account_snapshots.c.timestamp <= at)
    if since is not None:
        query = query.where(account_snapshots.c.timestamp >= since)
    value: Decimal | None = (await connection.execute(query)).scalar_one_or_none()
    return value


async def account_problem(connection: AsyncConnection) -> AccountProblem | None:
    row = (
        (await connection.execute(select(system_flags).where(system_flags.c.name == ACCOUNT_PROBLEM_FLAG)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return AccountProblem(message=row["reason"], seen_at=row["updated_at"])


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def books_state(self) -> BooksState:
        """The open positions and the newest fill id in one statement, so they are of one instant."""
        newest = select(func.coalesce(func.max(fills.c.id), 0).label("fills_through_id")).subquery()
        query = select(
            newest.c.fills_through_id,
            positions.c.symbol,
            positions.c.quantity,
            positions.c.average_cost,
            positions.c.realized_pnl,
        ).select_from(newest.outerjoin(positions, positions.c.quantity != 0))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        held = {
            row.symbol: BooksPosition(row.quantity, row.average_cost, row.realized_pnl)
            for row in rows
            if row.symbol is not None
        }
        return BooksState(held, int(rows[0].fills_through_id) if rows else 0)

    async def record(self, snapshot: AccountSnapshot) -> int:
        """Store a good reading (and clear any problem flagged before it); returns its id."""
        async with self._engine.begin() as connection:
            result = await connection.execute(insert(account_snapshots).values(**_row(snapshot)))
            await connection.execute(delete(system_flags).where(system_flags.c.name == ACCOUNT_PROBLEM_FLAG))
            (identifier,) = result.inserted_primary_key or (0,)
        return int(identifier or 0)

    async def record_problem(self, message: str, seen_at: datetime) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(delete(system_flags).where(system_flags.c.name == ACCOUNT_PROBLEM_FLAG))
            await connection.execute(
                insert(system_flags),
                {
                    "name": ACCOUNT_PROBLEM_FLAG,
                    "value": {"problem": message},
                    "reason": message,
                    "changed_by": "trade_executor",
                    "updated_at": seen_at,
                },
            )

    async def problem(self) -> AccountProblem | None:
        async with self._engine.connect() as connection:
            return await account_problem(connection)

    async def latest(self, at: datetime, *, in_step: bool = False) -> AccountSnapshot | None:
        async with self._engine.connect() as connection:
            return await latest_snapshot(connection, at, in_step=in_step)

    async def history(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 1000
    ) -> list[AccountSnapshot]:
        """Oldest first, at most `limit` (the newest ones when there are more)."""
        query = select(account_snapshots)
        if since is not None:
            query = query.where(account_snapshots.c.timestamp >= since)
        if until is not None:
            query = query.where(account_snapshots.c.timestamp <= until)
        query = _newest_first(query).limit(min(limit, MAX_HISTORY))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_snapshot(row) for row in reversed(rows)]

    async def day_start_equity(self, at: datetime, day_started_at: datetime) -> Decimal | None:
        """The session's starting equity: the broker's last close (last_equity) as the day's latest
        reading states it, else the equity of the last reading before the day began."""
        async with self._engine.connect() as connection:
            return await day_start_equity(connection, at, day_started_at)

    async def high_water_mark(self, at: datetime, since: datetime | None = None) -> Decimal | None:
        async with self._engine.connect() as connection:
            return await high_water_mark(connection, at, since)


async def broker_day_start_equity(
    connection: AsyncConnection, at: datetime, day_started_at: datetime
) -> Decimal | None:
    """last_equity of the day's latest reading by `at` (None when the day has none with it)."""
    query = (
        select(account_snapshots.c.last_equity)
        .where(
            account_snapshots.c.timestamp >= day_started_at,
            account_snapshots.c.timestamp <= at,
            account_snapshots.c.last_equity.is_not(None),
        )
        .limit(1)
    )
    value: Decimal | None = (await connection.execute(_newest_first(query))).scalar_one_or_none()
    return value


async def equity_before(connection: AsyncConnection, moment: datetime) -> Decimal | None:
    """Equity of the last reading taken before `moment`."""
    query = select(account_snapshots.c.equity).where(account_snapshots.c.timestamp < moment).limit(1)
    value: Decimal | None = (await connection.execute(_newest_first(query))).scalar_one_or_none()
    return value


async def day_start_equity(
    connection: AsyncConnection, at: datetime, day_started_at: datetime
) -> Decimal | None:
    found = await broker_day_start_equity(connection, at, day_started_at)
    return found if found is not None else await equity_before(connection, day_started_at)


def _row(snapshot: AccountSnapshot) -> dict[str, Any]:
    def cash(value: Decimal | None) -> Decimal | None:
        return None if value is None else to_cash(value)

    return {
        "timestamp": snapshot.taken_at,
        "source": snapshot.source[:16],
        "cash": to_cash(snapshot.cash),
        "equity": to_cash(snapshot.equity),
        "buying_power": cash(snapshot.buying_power),
        "gross_exposure": to_cash(snapshot.gross_exposure),
        "net_exposure": to_cash(snapshot.net_exposure),
        "realized_pnl": to_cash(snapshot.realized_pnl),
        "unrealized_pnl": to_cash(snapshot.unrealized_pnl),
        "long_market_value": to_cash(snapshot.long_market_value),
        "short_market_value": to_cash(snapshot.short_market_value),
        "last_equity": cash(snapshot.last_equity),
        "pattern_day_trader": snapshot.pattern_day_trader,
        "daytrade_count": snapshot.daytrade_count,
        "shorting_enabled": snapshot.shorting_enabled,
        "fills_through_id": snapshot.fills_through_id,
    }
