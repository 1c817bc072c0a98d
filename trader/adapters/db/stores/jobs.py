"""Job runs in `job_runs` (one row per attempt) and per-job pause switches in `system_flags`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import job_runs, system_flags

RUN_STATUSES = ("running", "succeeded", "failed", "skipped")
_PAUSE_PREFIX = "job_paused:"


@dataclass(frozen=True, slots=True)
class JobRun:
    id: int
    job_name: str
    scheduled_for: datetime | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    attempt: int
    duration_ms: float | None
    error_message: str | None
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_name": self.job_name,
            "scheduled_for": self.scheduled_for.isoformat() if self.scheduled_for else None,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status": self.status,
            "attempt": self.attempt,
            "duration_ms": self.duration_ms,
            "error_message": self.error_message,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class JobPause:
    paused: bool
    reason: str
    changed_by: str
    changed_at: datetime | None


def _run_from(row: RowMapping) -> JobRun:
    return JobRun(
        id=row["id"],
        job_name=row["job_name"],
        scheduled_for=row["scheduled_for"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        attempt=row["attempt"],
        duration_ms=row["duration_ms"],
        error_message=row["error_message"],
        details=row["details"] or {},
    )


class JobRunStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def start(
        self, job_name: str, *, scheduled_for: datetime | None, started_at: datetime, attempt: int
    ) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                insert(job_runs).returning(job_runs.c.id),
                {
                    "job_name": job_name,
                    "scheduled_for": scheduled_for,
                    "started_at": started_at,
                    "status": "running",
                    "attempt": attempt,
                },
            )
            run_id: int = result.scalar_one()
        return run_id

    async def finish(
        self,
        run_id: int,
        *,
        status: str,
        finished_at: datetime,
        error_message: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"a finished run is succeeded, failed or skipped, not {status!r}")
        async with self._engine.begin() as connection:
            started = (
                await connection.execute(select(job_runs.c.started_at).where(job_runs.c.id == run_id))
            ).scalar_one()
            await connection.execute(
                update(job_runs)
                .where(job_runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=finished_at,
                    duration_ms=round((finished_at - started).total_seconds() * 1000, 3),
                    error_message=error_message,
                    details=details or None,
                )
            )

    async def record_skipped(
        self, job_name: str, *, scheduled_for: datetime, at: datetime, reason: str
    ) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(job_runs),
                {
                    "job_name": job_name,
                    "scheduled_for": scheduled_for,
                    "started_at": at,
                    "finished_at": at,
                    "status": "skipped",
                    "attempt": 1,
                    "duration_ms": 0.0,
                    "error_message": reason,
                },
            )

    async def interrupt_unfinished(self, at: datetime) -> int:
        """Runs left 'running' by a crashed scheduler are failed, so nobody waits on them."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(job_runs)
                .where(job_runs.c.status == "running")
                .values(
                    status="failed",
                    finished_at=at,
                    error_message="interrupted: the scheduler stopped mid-run",
                )
            )
        return result.rowcount or 0

    async def last_run(self, job_name: str) -> JobRun | None:
        runs = await self.recent(job_name, limit=1)
        return runs[0] if runs else None

    async def last_scheduled_for(self, job_name: str) -> datetime | None:
        query = (
            select(job_runs.c.scheduled_for)
            .where(job_runs.c.job_name == job_name, job_runs.c.scheduled_for.is_not(None))
            .order_by(job_runs.c.scheduled_for.desc())
            .limit(1)
        )
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).scalar()

    async def recent(self, job_name: str | None = None, *, limit: int = 50) -> list[JobRun]:
        query = select(job_runs).order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc()).limit(limit)
        if job_name is not None:
            query = query.where(job_runs.c.job_name == job_name)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_run_from(row) for row in rows]

    async def pause(self, job_name: str) -> JobPause:
        query = select(system_flags).where(system_flags.c.name == _PAUSE_PREFIX + job_name)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        if row is None:
            return JobPause(False, "", "", None)
        return JobPause(
            bool((row["value"] or {}).get("paused")), row["reason"], row["changed_by"], row["updated_at"]
        )

    async def set_pause(
        self, job_name: str, *, paused: bool, reason: str, changed_by: str, at: datetime
    ) -> None:
        name = _PAUSE_PREFIX + job_name
        async with self._engine.begin() as connection:
            await connection.execute(delete(system_flags).where(system_flags.c.name == name))
            await connection.execute(
                insert(system_flags),
                {
                    "name": name,
                    "value": {"paused": paused},
                    "reason": reason,
                    "changed_by": changed_by,
                    "updated_at": at,
                },
            )
