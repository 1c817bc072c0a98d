"""Scheduler service (port 8005): NYSE-aware jobs, their runs, the market clock and calendar."""

from __future__ import annotations

from fastapi import FastAPI

from trader.adapters.db.stores.jobs import JobRunStore
from trader.adapters.leader import LeaderLock, PostgresAdvisoryLock, RedisLeaderLock, SoleLeader
from trader.services.common.app_factory import build_service_app
from trader.services.common.metrics import ServiceMetrics, job_metrics, notification_metrics
from trader.services.common.notifications import dispatcher_from_settings, job_failed
from trader.services.common.resources import Resources
from trader.services.scheduler.jobs import build_jobs
from trader.services.scheduler.routes import build_router
from trader.services.scheduler.runner import Scheduler

SERVICE = "scheduler"


def leader_lock(resources: Resources) -> LeaderLock:
    if resources.redis is not None:
        return RedisLeaderLock(resources.redis)
    if resources.engine.dialect.name == "postgresql":
        return PostgresAdvisoryLock(resources.engine)
    return SoleLeader()


def create_app(resources: Resources) -> FastAPI:
    metrics = ServiceMetrics(SERVICE)
    dispatcher = dispatcher_from_settings(
        resources.settings, resources.http, metrics=notification_metrics(metrics)
    )
    store = JobRunStore(resources.engine)
    scheduler = Scheduler(
        build_jobs(resources, dispatcher), store, resources.calendar, resources.clock, leader_lock(resources)
    )
    scheduler.metrics = job_metrics(metrics)

    async def report_failure(job: str, error: str, attempt: int) -> None:
        await dispatcher.notify(job_failed(resources.clock.now(), job=job, error=error, attempt=attempt))

    scheduler.on_final_failure = report_failure

    async def run_scheduler() -> None:
        await scheduler.run()

    app = build_service_app(
        SERVICE,
        resources,
        title="Scheduler",
        routers=[build_router(scheduler, store, resources)],
        workers=[run_scheduler],
        metrics=metrics,
    )
    app.state.scheduler = scheduler
    return app
