"""Operator switches that must outlive a restart, one row per flag in `system_flags`.

Maintenance mode is the one flag today: while it is on the system is read-only (reads work,
no new orders are accepted). Kept apart from `trading_states`, which is the risk state machine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import system_flags

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
                        "value": {"bar_at": bar_at.isoformat()},
                        "reason": "bar matched and its fills recorded",
                        "changed_by": "trade_executor",
                        "updated_at": at,
                    }
                    for symbol, bar_at in applied.items()
                ],
            )

    async def applied(self) -> dict[str, datetime]:
        """Symbol -> newest applied bar; empty when no executor feeds bars to a simulated broker."""
        query = select(system_flags.c.name, system_flags.c.value).where(
            system_flags.c.name.startswith(BAR_APPLIED_PREFIX)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {
            row.name.removeprefix(BAR_APPLIED_PREFIX): datetime.fromisoformat(row.value["bar_at"])
            for row in rows
        }


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
