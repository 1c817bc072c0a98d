"""The trading state (ACTIVE / REDUCING / HALTED) as an append-only history in `trading_states`.

The current state is the newest row, so it survives every restart; no row means ACTIVE.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trader.adapters.db.tables import trading_states
from trader.core.risk.state import StateChange, TradingState


class TradingStateStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def current(self) -> StateChange | None:
        async with self._engine.connect() as connection:
            return await self._current(connection)

    async def current_state(self) -> TradingState:
        change = await self.current()
        return change.state if change else TradingState.ACTIVE

    @staticmethod
    async def _current(connection: AsyncConnection) -> StateChange | None:
        row = (
            (
                await connection.execute(
                    select(trading_states)
                    .order_by(trading_states.c.timestamp.desc(), trading_states.c.id.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _change_from(row)

    async def record(self, change: StateChange) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(trading_states),
                {
                    "state": change.state.value,
                    "previous_state": change.previous_state.value,
                    "reason": change.reason,
                    "changed_by": change.changed_by,
                    "timestamp": change.changed_at,
                },
            )

    async def history(self, *, since: datetime | None = None, limit: int = 100) -> list[StateChange]:
        query = select(trading_states).order_by(trading_states.c.timestamp.desc(), trading_states.c.id.desc())
        if since is not None:
            query = query.where(trading_states.c.timestamp >= since)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.limit(limit))).mappings().all()
        return [_change_from(row) for row in rows]


def _change_from(row: RowMapping) -> StateChange:
    return StateChange(
        previous_state=TradingState(row["previous_state"] or row["state"]),
        state=TradingState(row["state"]),
        reason=row["reason"],
        changed_by=row["changed_by"],
        changed_at=row["timestamp"],
    )
