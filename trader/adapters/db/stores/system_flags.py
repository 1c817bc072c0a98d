"""Operator switches that must outlive a restart, one row per flag in `system_flags`.

Maintenance mode is the one flag today: while it is on the system is read-only (reads work,
no new orders are accepted). Kept apart from `trading_states`, which is the risk state machine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, cast, delete, exists, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import market_data, system_flags

MAINTENANCE_MODE = "maintenance_mode"
# One row per symbol: the newest bar the executor's simulated broker has matched orders against and
# whose fills are in the books. The risk manager waits for it before judging a signal of that bar.
BAR_APPLIED_PREFIX = "executor.bar_applied:"
# Where the embedded replay clock is and which processes run on it (heartbeats every few seconds).
REPLAY_CLOCK_FLAG = "replay_clock"


@dataclass(frozen=True, slots=True)
class MaintenanceMode:
    enabled: bool
    reason: str
    changed_by: str
    changed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "reason": self.reason,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }


OFF = MaintenanceMode(enabled=False, reason="", changed_by="", changed_at=None)


class SystemFlagsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def maintenance_mode(self) -> MaintenanceMode:
        query = select(system_flags).where(system_flags.c.name == MAINTENANCE_MODE)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        if row is None:
            return OFF
        value = row["value"] or {}
        return MaintenanceMode(
            enabled=bool(value.get("enabled", False)),
            reason=row["reason"],
            changed_by=row["changed_by"],
            changed_at=row["updated_at"],
        )

    async def set_maintenance_mode(
        self, *, enabled: bool, reason: str, changed_by: str, changed_at: datetime
    ) -> MaintenanceMode:
        if not reason.strip():
            raise ValueError("switching maintenance mode needs a reason")
        if changed_at.tzinfo is None:
            raise ValueError("changed_at must be aware UTC")
        row = {
            "name": MAINTENANCE_MODE,
            "value": {"enabled": enabled},
            "reason": reason.strip(),
            "changed_by": changed_by,
            "updated_at": changed_at,
        }
        # Delete + insert in one transaction is an upsert both back ends understand.
        async with self._engine.begin() as connection:
            await connection.execute(delete(system_flags).where(system_flags.c.name == MAINTENANCE_MODE))
            await connection.execute(insert(system_flags), row)
        return MaintenanceMode(enabled, reason.strip(), changed_by, changed_at)


class BarsAppliedStore:
    """How far the executor has applied replayed bars to the simulated broker, per symbol."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, symbol: str, bar_at: datetime, at: datetime) -> None:
        await self.record_many({symbol: bar_at}, at)

    async def record_many(self, applied: Mapping[str, datetime], at: datetime) -> None:
        """Several symbols' newest applied bars in one transaction."""
        if not applied:
            return
        names = {symbol: f"{BAR_APPLIED_PREFIX}{symbol}" for symbol in applied}
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(system_flags).where(system_flags.c.name.in_(sorted(names.values())))
            )
            await connection.execute(
                insert(system_flags),
                [
                    {
                        "name": names[symbol],
                        "value": {"bar_at": _flag_time(bar_at)},
                        "reason": "bar matched and its fills recorded",
                        "changed_by": "trade_executor",
                        "updated_at": at,
                    }
                    for symbol, bar_at in applied.items()
                ],
            )

    async def not_applied(self, bar_at: datetime) -> list[str] | None:
        """The symbols whose bar starting at `bar_at` is stored but not yet applied up to `bar_at`,
        in one query; None when no executor applies bars to a simulated broker (no flag at all)."""
        flag = system_flags.alias("applied")
        any_flag = exists().where(system_flags.c.name.startswith(BAR_APPLIED_PREFIX))
        async with self._engine.connect() as connection:
            applied_before = _applied_before(
                connection.dialect.name, flag.c.value["bar_at"].as_string(), bar_at
            )
            query = (
                select(market_data.c.symbol, any_flag.label("executor_applies"))
                .select_from(
                    market_data.outerjoin(
                        flag, flag.c.name == literal(BAR_APPLIED_PREFIX) + market_data.c.symbol
                    )
                )
                .where(market_data.c.timestamp == bar_at, or_(flag.c.name.is_(None), applied_before))
            )
            rows = (await connection.execute(query)).all()
        if rows and not rows[0].executor_applies:
            return None
        return sorted({row.symbol for row in rows})


def _flag_time(moment: datetime) -> str:
    """How a flag stores a bar time: ISO 8601 in UTC, so comparing the text compares the times."""
    if moment.tzinfo is None:
        raise ValueError(f"a bar time must be aware, got {moment!r}")
    return moment.astimezone(UTC).isoformat()


def _applied_before(dialect: str, applied_up_to: ColumnElement[str], bar_at: datetime) -> ColumnElement[bool]:
    """The flag's bar time is before `bar_at`. PostgreSQL compares the times themselves (its text
    order follows the database's collation); SQLite compares the UTC text byte by byte."""
    if dialect == "postgresql":
        return cast(applied_up_to, DateTime(timezone=True)) < bar_at
    return applied_up_to < _flag_time(bar_at)


class MaintenanceGate:
    """Cheap `is the system read-only?` for hot paths: reads the flag at most every `ttl_seconds`.

    Services that accept new orders ask it before doing so; a short TTL bounds how long a
    switch takes to reach every process.
    """

    def __init__(self, store: SystemFlagsStore, ttl_seconds: float = 2.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._cached: MaintenanceMode | None = None
        self._read_at = 0.0

    async def current(self) -> MaintenanceMode:
        now = time.monotonic()
        if self._cached is None or now - self._read_at >= self._ttl:
            self._cached = await self._store.maintenance_mode()
            self._read_at = now
        return self._cached

    def forget(self) -> None:
        self._cached = None
