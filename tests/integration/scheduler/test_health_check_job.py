"""The daily health check fails when the status page itself answers with an error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_port
from trader.adapters.clock import SimulatedClock
from trader.runtime.bootstrap import open_resources
from trader.services.common.notifications import NotificationDispatcher
from trader.services.scheduler.jobs import build_jobs
from trader.services.scheduler.runner import JobFailedError
from trader.settings import Settings


@contextmanager
def status_page(code: int, body: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def run_health_check(tmp_path: Path, sqlite_url: str, status_url: str) -> None:
    """The scheduler's daily_health_check job, asking the maintenance service at `status_url`."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=sqlite_url,
        log_dir=tmp_path,
        service_urls={"maintenance_service": status_url},
    )
    async with open_resources(
        settings, clock=SimulatedClock(datetime(2024, 3, 8, tzinfo=UTC), speed=0)
    ) as res:
        jobs = {job.name: job for job in build_jobs(res, NotificationDispatcher([], cooldown_seconds=0))}
        await jobs["daily_health_check"].action()


async def test_an_erroring_status_page_fails_the_check(tmp_path: Path, sqlite_url: str) -> None:
    with (
        status_page(500, b'{"detail": "database exploded"}') as url,
        pytest.raises(JobFailedError, match="HTTP 500: database exploded"),
    ):
        await run_health_check(tmp_path, sqlite_url, url)


async def test_an_unreachable_service_is_a_recorded_failure_not_a_crash(
    tmp_path: Path, sqlite_url: str
) -> None:
    with pytest.raises(JobFailedError, match="maintenance_service unreachable: ConnectError"):
        await run_health_check(tmp_path, sqlite_url, f"http://127.0.0.1:{free_port()}")
