"""The scheduler's HTTP API: jobs, manual runs and pauses (authenticated), market clock and calendar."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from trader.adapters.clock import SimulatedClock
from trader.runtime.bootstrap import open_resources
from trader.services.scheduler.app import create_app
from trader.settings import Settings

TOKEN = "scheduler-test-token-" + "x" * 20
THANKSGIVING_FRIDAY = datetime(2024, 11, 29, 15, 0, tzinfo=UTC)


@pytest.fixture
async def app(tmp_path: Path, sqlite_url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        log_dir=tmp_path,
        api_token=TOKEN,  # type: ignore[call-arg]
        allow_unauthenticated_loopback=False,
    )
    async with open_resources(settings, clock=SimulatedClock(THANKSGIVING_FRIDAY, speed=0)) as resources:
        application = create_app(resources)
        async with application.router.lifespan_context(application):
            yield application


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_jobs_are_listed_with_their_next_run(app: FastAPI) -> None:
    async with client(app) as http:
        body = (await http.get("/jobs")).json()
    assert body["leader"] is True
    jobs = {job["name"]: job for job in body["jobs"]}
    assert {"database_maintenance", "daily_health_check"} <= set(jobs)
    # Early close at 13:00 ET (18:00 UTC): the check runs at 18:30 UTC that day.
    assert jobs["daily_health_check"]["next_run_at"] == "2024-11-29T18:30:00Z"
    assert jobs["daily_health_check"]["cadence"] == "session close + 30min"


async def test_manual_runs_and_pauses_need_an_admin_token(app: FastAPI) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with client(app) as http:
        assert (await http.post("/jobs/database_maintenance/run")).status_code == 401
        assert (await http.post("/jobs/nope/run", headers=headers)).status_code == 404
        started = await http.post("/jobs/database_maintenance/run", headers=headers)
        assert started.status_code == 202, started.text
        for _ in range(200):
            runs = (await http.get("/jobs/database_maintenance/runs")).json()
            if runs and runs[0]["status"] != "running":
                break
            await asyncio.sleep(0.02)
        assert runs[0]["status"] == "succeeded", runs
        assert runs[0]["details"] == {"backend": "sqlite", "ran": "ANALYZE; PRAGMA optimize"}
        too_short = await http.post("/jobs/daily_health_check/pause", json={"reason": ""}, headers=headers)
        assert too_short.status_code == 422 and "reason" in too_short.json()["message"]
        paused = await http.post(
            "/jobs/daily_health_check/pause", json={"reason": "maintenance window"}, headers=headers
        )
        assert paused.json()["paused"] is True and paused.json()["pause_reason"] == "maintenance window"
        resumed = await http.post(
            "/jobs/daily_health_check/resume", json={"reason": "window over"}, headers=headers
        )
        assert resumed.json()["paused"] is False


async def test_market_clock_and_calendar(app: FastAPI) -> None:
    async with client(app) as http:
        clock = (await http.get("/market/clock")).json()
        assert clock["is_open"] is True
        assert clock["next_close"] == "2024-11-29T18:00:00Z"
        assert clock["session"]["early_close"] is True
        sessions = (
            await http.get("/market/calendar", params={"start": "2024-11-27", "end": "2024-12-02"})
        ).json()
        assert [s["date"] for s in sessions] == ["2024-11-27", "2024-11-29", "2024-12-02"]  # no Thanksgiving
        backwards = await http.get("/market/calendar", params={"start": "2024-12-02", "end": "2024-11-27"})
        assert backwards.status_code == 422 and "before start" in backwards.json()["message"]
        malformed = await http.get("/market/calendar", params={"start": "29/11/2024"})
        assert malformed.status_code == 422 and "start" in malformed.json()["message"]
