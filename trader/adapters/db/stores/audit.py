"""The audit trail: every mutating call and every authentication attempt, in `audit_logs`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import audit_logs

SEVERITIES = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    timestamp: datetime
    action: str
    service_name: str
    success: bool
    user_id: str | None = None
    ip_address: str | None = None
    resource: str | None = None
    method: str | None = None
    status_code: int | None = None
    error_message: str | None = None
    severity: str = "info"
    execution_time_ms: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}")


class AuditStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, entry: AuditEntry) -> None:
        await self.record_many([entry])

    async def record_many(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        rows = [
            {
                "timestamp": entry.timestamp,
                "user_id": entry.user_id,
                "ip_address": entry.ip_address,
                "action": entry.action,
                "resource": entry.resource,
                "method": entry.method,
                "status_code": entry.status_code,
                "success": entry.success,
                "error_message": entry.error_message,
                "service_name": entry.service_name,
                "severity": entry.severity,
                "execution_time_ms": entry.execution_time_ms,
                "details": entry.details or None,
            }
            for entry in entries
        ]
        async with self._engine.begin() as connection:
            await connection.execute(insert(audit_logs), rows)

    async def recent(
        self, *, action: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        query = (
            select(audit_logs).order_by(audit_logs.c.timestamp.desc(), audit_logs.c.id.desc()).limit(limit)
        )
        if action is not None:
            query = query.where(audit_logs.c.action == action)
        if since is not None:
            query = query.where(audit_logs.c.timestamp >= since)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            AuditEntry(
                timestamp=row["timestamp"],
                action=row["action"],
                service_name=row["service_name"],
                success=bool(row["success"]),
                user_id=row["user_id"],
                ip_address=row["ip_address"],
                resource=row["resource"],
                method=row["method"],
                status_code=row["status_code"],
                error_message=row["error_message"],
                severity=row["severity"],
                execution_time_ms=row["execution_time_ms"],
                details=row["details"] or {},
            )
            for row in rows
        ]
