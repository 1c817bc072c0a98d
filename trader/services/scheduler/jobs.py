"""The jobs the scheduler runs. Each calls a real operation; none is registered before it exists."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import text

from trader.core.schedule import NEW_YORK, AtSessionEvent, DailyAt, MissedRunPolicy
from trader.services.common.notifications import NotificationDispatcher, daily_summary, summarise_day
from trader.services.common.resources import Resources
from trader.services.scheduler.runner import JobDefinition, JobFailedError

SUNDAY = 6


def build_jobs(resources: Resources, dispatcher: NotificationDispatcher) -> list[JobDefinition]:
    async def database_maintenance() -> dict[str, Any]:
        engine = resources.engine
        if engine.dialect.name == "postgresql":
            # VACUUM cannot run inside a transaction block.
            async with engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM ANALYZE"))
            return {"backend": "postgresql", "ran": "VACUUM ANALYZE"}
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
            await connection.execute(text("PRAGMA optimize"))
            await connection.commit()
        return {"backend": "sqlite", "ran": "ANALYZE; PRAGMA optimize"}

    async def daily_health_check() -> dict[str, Any]:
        url = f"{resources.settings.url_of('maintenance_service')}/status"
        response = await resources.http.get(url, timeout=30)
        status = response.json()
        failing = sorted(
            name for name, info in status.get("services", {}).items() if info.get("status") != "healthy"
        )
        details = {
            "status": status.get("status"),
            "failing": failing,
            "database": status.get("database", {}).get("status"),
            "redis": status.get("redis", {}).get("status"),
        }
        if status.get("status") == "critical":
            raise JobFailedError(f"system critical: failing {', '.join(failing) or 'database/redis'}")
        return details

    async def send_daily_summary() -> dict[str, Any]:
        now = resources.clock.now()
        session = resources.calendar.session_for(now.astimezone(NEW_YORK).date())
        if session is None:
            return {"sent": False, "why": "no session today"}
        start = datetime.combine(session.session_date, time(0, 0), tzinfo=NEW_YORK)
        summary = await summarise_day(resources.engine, start, start + timedelta(days=1))
        outcome = await dispatcher.notify(daily_summary(now, summary))
        return {
            "day": session.session_date.isoformat(),
            "fills": summary.fills,
            "orders": sum(summary.orders_by_status.values()),
            "delivered_to": list(outcome.sent),
        }

    return [
        JobDefinition(
            name="daily_summary",
            description="the day's orders, fills and equity, sent to the configured channels",
            cadence=AtSessionEvent("close", timedelta(minutes=20)),
            action=send_daily_summary,
            missed_policy=MissedRunPolicy.RUN_ONCE,
        ),
        JobDefinition(
            name="database_maintenance",
            description="VACUUM ANALYZE on PostgreSQL (ANALYZE + PRAGMA optimize on SQLite)",
            cadence=DailyAt(time(3, 0), frozenset({SUNDAY})),
            action=database_maintenance,
            missed_policy=MissedRunPolicy.RUN_ONCE,
            timeout_seconds=3600,
        ),
        JobDefinition(
            name="daily_health_check",
            description="whole-system status after the close; fails when the system is critical",
            cadence=AtSessionEvent("close", timedelta(minutes=30)),
            action=daily_health_check,
            missed_policy=MissedRunPolicy.SKIP,
            max_attempts=2,
            retry_base_seconds=60,
        ),
    ]
