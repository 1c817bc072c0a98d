"""Backtest jobs in `backtest_runs`: queued, running, succeeded or failed, with their stamp and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import backtest_runs

STATUSES = ("queued", "running", "succeeded", "failed")


@dataclass(frozen=True, slots=True)
class BacktestRun:
    id: str
    status: str
    parameters: dict[str, Any]
    created_at: datetime
    data_hash: str | None = None
    code_version: str | None = None
    seed: int | None = None
    metrics: dict[str, Any] | None = None
    error_message: str | None = None
    finished_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "parameters": self.parameters,
            "data_hash": self.data_hash,
            "code_version": self.code_version,
            "seed": self.seed,
            "metrics": self.metrics,
            "error_message": self.error_message,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def _run(row: RowMapping) -> BacktestRun:
    return BacktestRun(
        id=row["id"],
        status=row["status"],
        parameters=dict(row["parameters"]),
        created_at=row["created_at"],
        data_hash=row["data_hash"],
        code_version=row["code_version"],
        seed=row["seed"],
        metrics=row["metrics"],
        error_message=row["error_message"],
        finished_at=row["finished_at"],
    )


class BacktestRunStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, run_id: str, parameters: dict[str, Any], at: datetime) -> BacktestRun:
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(backtest_runs).values(id=run_id, status="queued", parameters=parameters, created_at=at)
            )
        return await self.get(run_id)

    async def get(self, run_id: str) -> BacktestRun:
        async with self._engine.connect() as connection:
            row = (
                (await connection.execute(select(backtest_runs).where(backtest_runs.c.id == run_id)))
                .mappings()
                .first()
            )
        if row is None:
            raise LookupError(f"no backtest run {run_id!r}")
        return _run(row)

    async def mark_running(self, run_id: str) -> None:
        await self._set(run_id, status="running")

    async def finish(
        self,
        run_id: str,
        *,
        metrics: dict[str, Any],
        data_hash: str,
        code_version: str,
        seed: int,
        at: datetime,
    ) -> None:
        await self._set(
            run_id,
            status="succeeded",
            metrics=metrics,
            data_hash=data_hash,
            code_version=code_version,
            seed=seed,
            finished_at=at,
        )

    async def fail(self, run_id: str, error_message: str, at: datetime) -> None:
        await self._set(run_id, status="failed", error_message=error_message, finished_at=at)

    async def _set(self, run_id: str, **values: Any) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(backtest_runs).where(backtest_runs.c.id == run_id).values(**values)
            )
