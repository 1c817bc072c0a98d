"""Delete rows older than a cut-off, table by table, in small batches (never orders, fills or positions).

Signals and risk decisions that an order refers to are kept: they are part of that order's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import (
    account_snapshots,
    audit_logs,
    export_jobs,
    job_runs,
    market_data,
    risk_decisions,
    signals,
    trades,
)

BATCH = 5000


def _older_than(table: Table, cutoff: datetime) -> ColumnElement[bool]:
    if table is job_runs:
        return job_runs.c.started_at < cutoff
    if table is export_jobs:
        return export_jobs.c.created_at < cutoff
    condition: ColumnElement[bool] = table.c.timestamp < cutoff
    if table is signals:
        condition = condition & signals.c.id.not_in(
            select(trades.c.signal_id).where(trades.c.signal_id.is_not(None))
        )
        condition = condition & signals.c.id.not_in(
            select(risk_decisions.c.signal_id).where(risk_decisions.c.signal_id.is_not(None))
        )
    if table is risk_decisions:
        condition = condition & risk_decisions.c.id.not_in(
            select(trades.c.risk_decision_id).where(trades.c.risk_decision_id.is_not(None))
        )
    return condition


# Order matters: decisions go before the signals they refer to.
RETAINED_TABLES: dict[str, Table] = {
    table.name: table
    for table in (audit_logs, job_runs, account_snapshots, export_jobs, risk_decisions, signals, market_data)
}


@dataclass(frozen=True, slots=True)
class CleanupResult:
    table: str
    rows: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "rows": self.rows, "dry_run": self.dry_run}


async def clean_old_rows(
    engine: AsyncEngine, *, cutoff: datetime, tables: list[str], dry_run: bool
) -> list[CleanupResult]:
    unknown = [name for name in tables if name not in RETAINED_TABLES]
    if unknown:
        raise ValueError(
            f"cannot clean {', '.join(unknown)}; choose from {', '.join(RETAINED_TABLES)} "
            "(orders, fills and positions are never deleted)"
        )
    results = []
    for name, table in RETAINED_TABLES.items():
        if name not in tables:
            continue
        condition = _older_than(table, cutoff)
        if dry_run:
            async with engine.connect() as connection:
                count = (
                    await connection.execute(select(func.count()).select_from(table).where(condition))
                ).scalar_one()
            results.append(CleanupResult(name, int(count), True))
            continue
        removed = 0
        while True:
            # Small transactions: the services keep writing while old rows go.
            async with engine.begin() as connection:
                batch = select(table.c.id).where(condition).limit(BATCH).scalar_subquery()
                deleted = (await connection.execute(delete(table).where(table.c.id.in_(batch)))).rowcount
            removed += deleted
            if deleted < BATCH:
                break
        results.append(CleanupResult(name, removed, False))
    return results
