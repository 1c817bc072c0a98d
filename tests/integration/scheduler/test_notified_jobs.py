"""Job failures and the daily summary reach a real (loopback) webhook through the scheduler app."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.integration.notifications.receivers import http_receiver
from trader.adapters.clock import SimulatedClock
from trader.runtime.bootstrap import open_resources
from trader.services.scheduler.app import create_app
from trader.services.scheduler.runner import Scheduler
from trader.settings import Settings

TOKEN = "notify-test-token-" + "y" * 20
# Friday 2024-03-08, after the close: the daily summary is due at 21:20 UTC.
AFTER_CLOSE = datetime(2024, 3, 8, 21, 0, tzinfo=UTC)


async def test_daily_summary_and_failed_jobs_are_sent(tmp_path: Path, sqlite_url: str) -> None:
    with http_receiver() as receiver:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=sqlite_url,
            log_dir=tmp_path,
            api_token=TOKEN,
            notification_webhook_url=receiver.url,
            notification_cooldown_seconds=0,
            # Nothing answers here, so the health check fails on every attempt.
            service_urls={"maintenance_service": "http://127.0.0.1:9"},
        )
        clock = SimulatedClock(AFTER_CLOSE, speed=0)
        async with open_resources(settings, clock=clock) as resources:
            app = create_app(resources)
            scheduler: Scheduler = app.state.scheduler
            async with app.router.lifespan_context(app):
                for _ in range(300):  # the runner plans its jobs once it leads
                    if scheduler.next_due_at("daily_summary") is not None:
                        break
                    await asyncio.sleep(0.01)
                clock.advance_to(datetime(2024, 3, 8, 21, 20, tzinfo=UTC))
                headers = {"Authorization": f"Bearer {TOKEN}"}
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                    for _ in range(300):
                        kinds = [request.body.get("kind") for request in receiver.requests]
                        if "daily_summary" in kinds:
                            break
                        await asyncio.sleep(0.02)
                    assert "daily_summary" in kinds, receiver.requests
                    # The health check's two attempts fail; the last one is reported.
                    assert (
                        await http.post("/jobs/daily_health_check/run", headers=headers)
                    ).status_code == 202
                    for _ in range(300):
                        kinds = [request.body.get("kind") for request in receiver.requests]
                        if "job_failed" in kinds:
                            break
                        await asyncio.sleep(0.02)
                assert scheduler.is_leader
    summary = next(
        request.body for request in receiver.requests if request.body.get("kind") == "daily_summary"
    )
    assert summary["title"] == "Daily summary 2024-03-08"
    failure = next(request.body for request in receiver.requests if request.body.get("kind") == "job_failed")
    assert "daily_health_check" in failure["title"]
    assert "ConnectError" in failure["message"]
