"""Delete rows older than a cut-off, table by table, in small batches (never orders, fills or positions).

Signals and risk decisions that an order refers to are kept: they are part of that order's record.
Bars are deleted only beyond what the keep rules ask for (`trader.core.retention`: each enabled
strategy's lookback, each model's training window), so a clean-up never starves a strategy; what
was kept, and why, is returned and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
from trader.core.retention import KeepRule

log = logging.getLogger("trader.retention")
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
class KeptBars:
    """Bars of one symbol older than the cut-off that stay, and why."""

    symbol: str
    rows: int
    oldest_kept_at: datetime | None
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "rows": self.rows,
            "oldest_kept_at": None if self.oldest_kept_at is None else self.oldest_kept_at.isoformat(),
            "reasons": list(self.reasons),
        }

    def describe(self) -> str:
        since = "" if self.oldest_kept_at is None else f" (from {self.oldest_kept_at.isoformat()})"
        return f"{self.symbol}: kept {self.rows} older bar(s){since} for {'; '.join(self.reasons)}"


@dataclass(frozen=True, slots=True)
class CleanupResult:
    table: str
    rows: int
    dry_run: bool
    kept: tuple[KeptBars, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"table": self.table, "rows": self.rows, "dry_run": self.dry_run}
        if self.kept:
            body["kept"] = [kept.as_dict() for kept in self.kept]
        return body


async def _oldest_needed(connection: AsyncConnection, rule: KeepRule) -> datetime | None:
    """The oldest bar a rule keeps: its `base_bars`-th newest (None: fewer stored, or keep all)."""
    if rule.base_bars is None:
        return None
    query = (
        select(market_data.c.timestamp)
        .where(market_data.c.symbol == rule.symbol)
        .order_by(market_data.c.timestamp.desc())
        .offset(rule.base_bars - 1)
        .limit(1)
    )
    found: datetime | None = (await connection.execute(query)).scalar()
    return found


async def _bars_condition(
    engine: AsyncEngine, cutoff: datetime, keep: Mapping[str, KeepRule]
) -> tuple[ColumnElement[bool], list[KeptBars]]:
    """Which bars may go (older than the cut-off and than the oldest bar a keep rule needs), and per
    kept symbol how many bars older than the cut-off stay."""
    older = market_data.c.timestamp < cutoff
    deletable = [and_(market_data.c.symbol.not_in(list(keep)), older) if keep else older]
    kept = []
    async with engine.connect() as connection:
        for symbol, rule in keep.items():
            oldest = await _oldest_needed(connection, rule)
            staying = and_(market_data.c.symbol == symbol, older)
            # None: fewer bars stored than needed, or an unknown need; then every bar stays.
            if oldest is not None:
                deletable.append(
                    and_(market_data.c.symbol == symbol, market_data.c.timestamp < min(cutoff, oldest))
                )
                staying = and_(staying, market_data.c.timestamp >= oldest)
            rows, first = (
                await connection.execute(
                    select(func.count(), func.min(market_data.c.timestamp)).where(staying)
                )
            ).one()
            if rows:
                kept.append(KeptBars(symbol, int(rows), first, rule.reasons))
    return or_(false(), *deletable), kept


async def clean_old_rows(
    engine: AsyncEngine,
    *,
    cutoff: datetime,
    tables: list[str],
    dry_run: bool,
    keep: Mapping[str, KeepRule] | None = None,
) -> list[CleanupResult]:
    """Delete (or with `dry_run` count) the chosen tables' rows older than `cutoff`. Cleaning
    `market_data` needs `keep`, the bars the strategies and models still need (an empty mapping
    when nothing needs any): without it nothing could say the clean-up starves no strategy."""
    unknown = [name for name in tables if name not in RETAINED_TABLES]
    if unknown:
        raise ValueError(
            f"cannot clean {', '.join(unknown)}; choose from {', '.join(RETAINED_TABLES)} "
            "(orders, fills and positions are never deleted)"
        )
    if "market_data" in tables and keep is None:
        raise ValueError("cleaning market_data needs the bars the strategies and models still need")
    results = []
    for name, table in RETAINED_TABLES.items():
        if name not in tables:
            continue
        kept: list[KeptBars] = []
        condition = _older_than(table, cutoff)
        if table is market_data:
            condition, kept = await _bars_condition(engine, cutoff, keep or {})
            for item in kept:
                log.info("retention %s %s", "would keep" if dry_run else "kept", item.describe())
        if dry_run:
            async with engine.connect() as connection:
                count = (
                    await connection.execute(select(func.count()).select_from(table).where(condition))
                ).scalar_one()
            results.append(CleanupResult(name, int(count), True, tuple(kept)))
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
        results.append(CleanupResult(name, removed, False, tuple(kept)))
        log.info("retention deleted %d row(s) of %s older than %s", removed, name, cutoff.isoformat())
    return results
