from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from trader.adapters.db.stores.jobs import JobRunStore
from trader.core.schedule import NEW_YORK
from trader.core.sessions import Session
from trader.services.common.resources import Resources
from trader.services.common.security import Principal, require_scope
from trader.services.scheduler.runner import JobAlreadyRunningError, Scheduler, UnknownJobError
from trader.services.scheduler.schemas import JobView, LastRun, MarketClock, PauseRequest, SessionView

MAX_CALENDAR_DAYS = 366 * 2


def _session_view(session: Session) -> SessionView:
    return SessionView(
        date=session.session_date,
        open_at=session.open_at,
        close_at=session.close_at,
        early_close=session.is_early_close,
    )


def build_router(scheduler: Scheduler, store: JobRunStore, resources: Resources) -> APIRouter:
    router = APIRouter(tags=["scheduler"])

    def known(name: str) -> None:
        try:
            scheduler.definition(name)
        except UnknownJobError:
            names = ", ".join(job.name for job in scheduler.jobs)
            raise HTTPException(404, detail=f"unknown job {name!r}; jobs: {names}") from None

    async def view(name: str) -> JobView:
        job = scheduler.definition(name)
        last = await store.last_run(name)
        pause = await store.pause(name)
        return JobView(
            name=name,
            description=job.description,
            cadence=job.cadence.describe(),
            missed_run_policy=job.missed_policy.value,
            paused=pause.paused,
            pause_reason=pause.reason if pause.paused else None,
            running=scheduler.is_running(name),
            next_run_at=scheduler.next_due_at(name),
            last_run=LastRun(
                id=last.id,
                status=last.status,
                started_at=last.started_at,
                finished_at=last.finished_at,
                duration_ms=last.duration_ms,
                attempt=last.attempt,
                error_message=last.error_message,
            )
            if last
            else None,
        )

    @router.get("/jobs", summary="Every job: cadence, next run, last run")
    async def list_jobs() -> dict[str, Any]:
        return {"leader": scheduler.is_leader, "jobs": [await view(job.name) for job in scheduler.jobs]}

    @router.get("/jobs/{name}/runs", summary="A job's recent runs")
    async def job_runs(name: str, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
        known(name)
        return [run.as_dict() for run in await store.recent(name, limit=limit)]

    @router.post("/jobs/{name}/run", status_code=202, summary="Run a job now")
    async def run_now(
        name: str, request: Request, principal: Principal = Depends(require_scope("admin"))
    ) -> dict[str, str]:
        known(name)
        try:
            await scheduler.trigger(name)
        except JobAlreadyRunningError as error:
            raise HTTPException(409, detail=str(error)) from None
        except RuntimeError as error:
            raise HTTPException(503, detail=str(error)) from None
        request.state.audit_action = "run_job"
        request.state.audit_details = {"job": name}
        return {"job": name, "status": "started", "requested_by": principal.user_id}

    async def set_pause(
        name: str, paused: bool, body: PauseRequest, request: Request, principal: Principal
    ) -> JobView:
        known(name)
        await store.set_pause(
            name, paused=paused, reason=body.reason, changed_by=principal.user_id, at=resources.clock.now()
        )
        request.state.audit_action = "pause_job" if paused else "resume_job"
        request.state.audit_details = {"job": name, "reason": body.reason}
        return await view(name)

    @router.post("/jobs/{name}/pause", summary="Pause a job (persisted; its runs are recorded as skipped)")
    async def pause(
        name: str,
        body: PauseRequest,
        request: Request,
        principal: Principal = Depends(require_scope("admin")),
    ) -> JobView:
        return await set_pause(name, True, body, request, principal)

    @router.post("/jobs/{name}/resume", summary="Resume a paused job")
    async def resume(
        name: str,
        body: PauseRequest,
        request: Request,
        principal: Principal = Depends(require_scope("admin")),
    ) -> JobView:
        return await set_pause(name, False, body, request, principal)

    @router.get("/market/clock", summary="Is the market open; next open and close (NYSE)")
    async def market_clock() -> MarketClock:
        now = resources.clock.now()
        calendar = resources.calendar
        session = calendar.session_for(now.astimezone(NEW_YORK).date())
        return MarketClock(
            timestamp=now,
            is_open=calendar.is_open(now),
            next_open=calendar.next_open(now),
            next_close=calendar.next_close(now),
            session=_session_view(session) if session else None,
        )

    @router.get(
        "/market/calendar", summary="NYSE sessions between two dates (holidays absent, early closes marked)"
    )
    async def market_calendar(
        start: Annotated[date | None, Query(description="first date, default today")] = None,
        end: Annotated[date | None, Query(description="last date, default start + 30 days")] = None,
    ) -> list[SessionView]:
        first = start or resources.clock.now().date()
        last = end or first + timedelta(days=30)
        if last < first:
            raise HTTPException(422, detail=f"end {last} is before start {first}")
        if (last - first).days > MAX_CALENDAR_DAYS:
            raise HTTPException(422, detail=f"at most {MAX_CALENDAR_DAYS} days per request")
        calendar = resources.calendar
        if first < calendar.first_date or last > calendar.last_date:
            raise HTTPException(
                422, detail=f"the calendar covers {calendar.first_date} to {calendar.last_date}"
            )
        return [_session_view(session) for session in calendar.sessions_between(first, last)]

    return router
