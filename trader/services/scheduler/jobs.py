"""The jobs the scheduler runs. Each calls a real operation; none is registered before it exists.

Work another service owns goes through its HTTP API with the API token (collection, reconciliation,
exports, training); the scheduler itself owns what touches only the database and the disk
(backups, retention clean-up, VACUUM/ANALYZE).

Bars: the data collector's own worker collects each base-timeframe bar as it closes (and is the
only thing that can release replayed bars without look-ahead), so the scheduler does not poll
the provider a second time. `collect_bars` is the catch-up: during the session it asks the
collector which watchlist symbols are behind the last closed bar and has only those collected
(`POST /data/collect`, which starts after each symbol's newest stored bar and publishes
`BarClosed` for what it stores, so strategies evaluate the recovered bars too). With the poller
healthy it finds nothing behind and calls no provider.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from trader.adapters.backups.catalog import prune_backups
from trader.adapters.backups.database import create_backup
from trader.adapters.retention import clean_old_rows
from trader.core.market import Timeframe
from trader.core.schedule import NEW_YORK, AtSessionEvent, Cadence, DailyAt, EveryInterval, MissedRunPolicy
from trader.core.sessions import MarketCalendar, Session, bucket_end, bucket_start
from trader.services.common.notifications import NotificationDispatcher, daily_summary, summarise_day
from trader.services.common.resources import Resources
from trader.services.common.timeframes import base_timeframe
from trader.services.scheduler.cadences import chosen_cadences
from trader.services.scheduler.retention import bars_to_keep
from trader.services.scheduler.runner import JobDefinition, JobFailedError
from trader.settings import Settings

log = logging.getLogger(__name__)
SATURDAY = 5
SUNDAY = 6
# The collector's poller fetches a bar a few seconds after it closes; give it this long first.
COLLECTOR_GRACE = timedelta(minutes=2)
# Operational tables the retention job cleans (orders, fills, positions and snapshots never).
OPERATIONAL_TABLES = ["audit_logs", "export_jobs", "risk_decisions", "signals"]
# Weekly jobs look up their last run to decide about missed runs: keep job runs at least this long.
JOB_RUNS_KEPT = timedelta(days=35)
TRAINING_POLL_SECONDS = 1.0


def latest_closed_bar(
    calendar: MarketCalendar, timeframe: Timeframe, at: datetime
) -> tuple[Session, datetime]:
    """The session and start of the newest base bar that has closed by `at`."""
    session = calendar.session_for(at.astimezone(NEW_YORK).date())
    if session is None or at <= session.open_at:
        session = calendar.previous_session(at.astimezone(NEW_YORK).date())
        return session, bucket_start(session, session.close_at - timedelta(microseconds=1), timeframe)
    if not timeframe.is_intraday:
        if at >= session.close_at:
            return session, session.open_at
        session = calendar.previous_session(session.session_date)
        return session, session.open_at
    candidate = bucket_start(session, min(at, session.close_at) - timedelta(microseconds=1), timeframe)
    if bucket_end(session, candidate, timeframe) <= at:
        return session, candidate
    if candidate > session.open_at:
        return session, candidate - timeframe.duration
    session = calendar.previous_session(session.session_date)
    return session, bucket_start(session, session.close_at - timedelta(microseconds=1), timeframe)


def _is_behind(latest: datetime | None, session: Session, expected: datetime, timeframe: Timeframe) -> bool:
    if latest is None:
        return True
    if not timeframe.is_intraday:
        # Daily bars are stamped with their session's date (midnight or the open, by source).
        return latest.astimezone(UTC).date() < session.session_date
    return latest < expected


def _default_cadences(settings: Settings) -> dict[str, Cadence]:
    collect: Cadence = (
        EveryInterval(15 * 60)
        if base_timeframe(settings).is_intraday
        else AtSessionEvent("close", timedelta(minutes=15))
    )
    return {
        "collect_bars": collect,
        "broker_reconciliation": AtSessionEvent("close", timedelta(minutes=10)),
        "daily_summary": AtSessionEvent("close", timedelta(minutes=20)),
        "end_of_day_report": AtSessionEvent("close", timedelta(minutes=25)),
        "daily_health_check": AtSessionEvent("close", timedelta(minutes=30)),
        "backup": AtSessionEvent("close", timedelta(hours=1)),
        "data_retention": DailyAt(time(2, 30)),
        "database_maintenance": DailyAt(time(3, 0), frozenset({SUNDAY})),
        "model_retraining": DailyAt(time(6, 0), frozenset({SATURDAY})),
        # After the day's bars are stored: the universe traded from the next session on.
        "universe_refresh": AtSessionEvent("close", timedelta(minutes=5)),
    }


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    return body if isinstance(body, dict) else {"body": body}


def _refused(what: str, response: httpx.Response) -> JobFailedError:
    detail = _answer(response).get("detail", response.text[:500])
    return JobFailedError(f"{what}: HTTP {response.status_code}: {detail}")


def _expect(what: str, response: httpx.Response, accepted: tuple[int, ...]) -> Any:
    """The answer's JSON when its status is one of `accepted`; otherwise the job fails saying so."""
    if response.status_code not in accepted:
        raise _refused(what, response)
    return response.json()


def build_jobs(resources: Resources, dispatcher: NotificationDispatcher) -> list[JobDefinition]:
    settings = resources.settings
    cadence = chosen_cadences(_default_cadences(settings), settings.scheduler_cadences)
    heavy = settings.scheduler_heavy_job_min_wall_seconds
    headers: Mapping[str, str] = (
        {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"} if settings.api_token else {}
    )

    def url(service: str, path: str) -> str:
        return f"{settings.url_of(service)}{path}"

    async def call(method: str, what: str, service: str, path: str, **options: Any) -> httpx.Response:
        # Another service being down or restarting is an expected failure of the run (recorded,
        # retried), not a programming error with a traceback.
        try:
            return await resources.http.request(method, url(service, path), **options)
        except httpx.HTTPError as error:
            raise JobFailedError(f"{what}: {service} unreachable: {type(error).__name__}: {error}") from error

    async def get(what: str, service: str, path: str, **options: Any) -> Any:
        return _expect(what, await call("GET", what, service, path, **options), (200,))

    async def post(
        what: str, service: str, path: str, *, accepted: tuple[int, ...] = (200,), **options: Any
    ) -> Any:
        response = await call("POST", what, service, path, headers=headers, **options)
        return _expect(what, response, accepted)

    async def collect_bars() -> dict[str, Any]:
        status = await get(
            "data status", "data_collector", "/data/status", params={"gap_sessions": 1}, timeout=60
        )
        timeframe = Timeframe.parse(status["base_timeframe"])
        session, expected = latest_closed_bar(
            resources.calendar, timeframe, resources.clock.now() - COLLECTOR_GRACE
        )
        latest = {
            row["symbol"]: datetime.fromisoformat(row["latest_bar_at"])
            for row in status.get("series", [])
            if row.get("timeframe") == timeframe.value and row.get("latest_bar_at")
        }
        watchlist = list(status.get("watchlist", []))
        behind = [
            symbol for symbol in watchlist if _is_behind(latest.get(symbol), session, expected, timeframe)
        ]
        details: dict[str, Any] = {
            "timeframe": timeframe.value,
            "expected_bar_at": expected.isoformat(),
            "checked": len(watchlist),
            "behind": behind,
        }
        if not behind:
            return details
        collected = await call(
            "POST",
            "collection",
            "data_collector",
            "/data/collect",
            json={"symbols": behind, "background": False},
            headers=headers,
            timeout=600,
        )
        answer = _answer(collected)
        if collected.status_code == 404:
            # Symbols the provider does not know: retrying cannot help; the details say which.
            log.warning("catch-up collection: %s", answer.get("errors") or answer.get("detail"))
            return {**details, "unknown": answer.get("errors", {})}
        if collected.status_code != 200:
            raise _refused("collection", collected)
        return {
            **details,
            "stored": answer.get("stored"),
            "published": answer.get("published"),
            "errors": answer.get("errors", {}),
        }

    async def broker_reconciliation() -> dict[str, Any]:
        report = await post("reconciliation", "trade_executor", "/reconcile", timeout=300)
        return {
            key: report.get(key)
            for key in (
                "orders_checked",
                "orders_updated",
                "orders_imported",
                "fills_recorded",
                "position_drifts",
                "order_drifts",
                "drift_notional",
                "state_changed_to",
            )
        }

    def last_closed_session() -> Session:
        now = resources.clock.now()
        today = resources.calendar.session_for(now.astimezone(NEW_YORK).date())
        if today is not None and today.close_at <= now:
            return today
        return resources.calendar.previous_session(now.astimezone(NEW_YORK).date())

    async def end_of_day_report() -> dict[str, Any]:
        session = last_closed_session()
        day = datetime.combine(session.session_date, time(0, 0), tzinfo=UTC)
        exports = {}
        for request in (
            {"kind": "daily_summary", "start": day.isoformat()},
            {"kind": "performance_report", "end": (day + timedelta(days=1)).isoformat()},
        ):
            job = await post(
                f"{request['kind']} export",
                "export_service",
                "/exports",
                accepted=(200, 201),
                json=request,
                timeout=600,
            )
            exports[request["kind"]] = {
                key: job.get(key) for key in ("id", "path", "row_count", "byte_count")
            }
        return {"day": session.session_date.isoformat(), "exports": exports}

    async def backup() -> dict[str, Any]:
        # Backup files carry wall-clock names, like `trader backup`: verify_backups.sh checks
        # their age against the wall clock, whatever clock the services run on.
        stored = await create_backup(settings.effective_database_url, settings.backup_dir)
        removed = await asyncio.to_thread(
            prune_backups,
            settings.backup_dir,
            retention_days=settings.backup_retention_days,
            keep_minimum=settings.backup_keep_minimum,
            now=datetime.now(UTC),
        )
        return {
            "archive": str(stored.archive_path),
            "bytes": stored.manifest.archive_bytes,
            "rows": stored.manifest.total_rows,
            "sha256": stored.manifest.archive_sha256,
            "pruned": [old.manifest.name for old in removed],
        }

    async def data_retention() -> dict[str, Any]:
        now = resources.clock.now()
        cutoff = now - timedelta(days=settings.retention_days)
        results = await clean_old_rows(
            resources.engine, cutoff=cutoff, tables=OPERATIONAL_TABLES, dry_run=False
        )
        results += await clean_old_rows(
            resources.engine, cutoff=min(cutoff, now - JOB_RUNS_KEPT), tables=["job_runs"], dry_run=False
        )
        kept: list[dict[str, Any]] = []
        if settings.retention_market_data_days:
            # Never the bars an enabled strategy or a model still needs; the result names them.
            keep = await bars_to_keep(resources.engine, settings, base_timeframe(settings))
            bars = await clean_old_rows(
                resources.engine,
                cutoff=now - timedelta(days=settings.retention_market_data_days),
                tables=["market_data"],
                dry_run=False,
                keep=keep,
            )
            kept = [item.as_dict() for result in bars for item in result.kept]
            results += bars
        return {
            "cutoff": cutoff.isoformat(),
            "deleted": {result.table: result.rows for result in results},
            "kept_bars": kept,
        }

    async def model_retraining() -> dict[str, Any]:
        # 409: a training already runs; follow that one.
        job = await post(
            "training", "strategy_engine", "/models/train", accepted=(202, 409), json={}, timeout=60
        )
        while job.get("status") not in ("succeeded", "failed"):
            await asyncio.sleep(TRAINING_POLL_SECONDS)
            job = await get("training status", "strategy_engine", job["url"], timeout=30)
        if job["status"] == "failed":
            raise JobFailedError(f"training failed: {job.get('error')}")
        outcome = job["outcome"]
        candidate = outcome["candidate"]
        return {
            "job": job["id"],
            "model": candidate["name"],
            "version": candidate["version"],
            "status": candidate["status"],
            "promoted": outcome["promoted"],
            "reason": outcome["promotion_reason"],
            "auc": candidate["metrics"].get("auc"),
        }

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
        # A status page that answers with an error is itself a failed check, not "status unknown".
        status = await get("system status", "maintenance_service", "/status", timeout=30)
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

    async def universe_refresh() -> dict[str, Any]:
        answer = await post("universe refresh", "data_collector", "/universe/refresh", timeout=600)
        if answer.get("errors"):
            log.warning("universe refresh: sources failed: %s", answer["errors"])
        return {
            key: answer.get(key) for key in ("refreshed_at", "added", "removed", "candidates", "errors")
        } | {"universe": [item["symbol"] for item in answer.get("universe", [])]}

    screener = (
        [
            JobDefinition(
                name="universe_refresh",
                description="screen (Alpaca's lists, gaps, relative volume, breakouts); the watchlist "
                "becomes the ranked universe plus the symbols still held",
                cadence=cadence["universe_refresh"],
                action=universe_refresh,
                missed_policy=MissedRunPolicy.RUN_ONCE,
                max_attempts=2,
                retry_base_seconds=60,
            )
        ]
        if settings.screener_enabled
        else []
    )
    jobs = [
        JobDefinition(
            name="collect_bars",
            description="catch-up: collect the watchlist symbols that fell behind the last closed bar",
            cadence=cadence["collect_bars"],
            action=collect_bars,
            missed_policy=MissedRunPolicy.RUN_ONCE,
            max_attempts=2,
            retry_base_seconds=60,
            min_wall_interval_seconds=heavy,
        ),
        JobDefinition(
            name="broker_reconciliation",
            description="orders, fills and positions reconciled with the broker after the close",
            cadence=cadence["broker_reconciliation"],
            action=broker_reconciliation,
            missed_policy=MissedRunPolicy.RUN_ONCE,
            retry_base_seconds=60,
            min_wall_interval_seconds=heavy,
        ),
        JobDefinition(
            name="daily_summary",
            description="the day's orders, fills and equity, sent to the configured channels",
            cadence=cadence["daily_summary"],
            action=send_daily_summary,
            missed_policy=MissedRunPolicy.RUN_ONCE,
        ),
        JobDefinition(
            name="end_of_day_report",
            description="the last session's daily summary and the performance report, exported to files",
            cadence=cadence["end_of_day_report"],
            action=end_of_day_report,
            missed_policy=MissedRunPolicy.RUN_ONCE,
            min_wall_interval_seconds=heavy,
        ),
        JobDefinition(
            name="daily_health_check",
            description="whole-system status after the close; fails when the system is critical",
            cadence=cadence["daily_health_check"],
            action=daily_health_check,
            missed_policy=MissedRunPolicy.SKIP,
            max_attempts=2,
            retry_base_seconds=60,
        ),
        JobDefinition(
            name="backup",
            description="database backup with checksum and manifest, then the retention policy",
            cadence=cadence["backup"],
            action=backup,
            missed_policy=MissedRunPolicy.RUN_ONCE,
            max_attempts=2,
            retry_base_seconds=300,
            timeout_seconds=3600,
            min_wall_interval_seconds=heavy,
        ),
        JobDefinition(
            name="data_retention",
            description="delete operational rows older than RETENTION_DAYS "
            "(bars after RETENTION_MARKET_DATA_DAYS, when set)",
            cadence=cadence["data_retention"],
            action=data_retention,
            missed_policy=MissedRunPolicy.RUN_ONCE,
            timeout_seconds=3600,
            min_wall_interval_seconds=heavy,
        ),
        JobDefinition(
            name="database_maintenance",
            description="VACUUM ANALYZE on PostgreSQL (ANALYZE + PRAGMA optimize on SQLite)",
            cadence=cadence["database_maintenance"],
            action=database_maintenance,
            missed_policy=MissedRunPolicy.RUN_ONCE,
            timeout_seconds=3600,
        ),
        JobDefinition(
            name="model_retraining",
            description="train a candidate model on stored bars; promoted only when it beats the active one",
            cadence=cadence["model_retraining"],
            action=model_retraining,
            missed_policy=MissedRunPolicy.RUN_ONCE,
            max_attempts=2,
            retry_base_seconds=600,
            timeout_seconds=3600,
            min_wall_interval_seconds=heavy,
        ),
    ]
    return [*jobs, *screener]
