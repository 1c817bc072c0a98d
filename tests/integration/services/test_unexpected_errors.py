"""An unexpected error answers a bare 500 and its traceback lands in that service's own log."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from fastapi import APIRouter

from trader.runtime.bootstrap import open_resources
from trader.services.common.app_factory import build_service_app
from trader.services.common.logs import configure_logging, remove_handlers
from trader.settings import Settings


async def test_tracebacks_go_to_the_failing_services_log(tmp_path: Path, sqlite_url: str) -> None:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the secret sauce is 42")

    logs = tmp_path / "logs"
    configure_logging(logs, ["risk_manager", "export_service"], console=False)
    try:
        settings = Settings(_env_file=None, database_url=sqlite_url, log_dir=logs)  # type: ignore[call-arg]
        async with open_resources(settings) as resources:
            app = build_service_app("risk_manager", resources, title="t", routers=[router])
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.get("/boom")
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
        remove_handlers()
    assert response.status_code == 500
    assert response.json() == {"error": "internal error", "message": "unexpected error; see the service log"}
    assert "secret sauce" not in response.text
    service_log = (logs / "risk_manager.log").read_text()
    assert "unhandled error on GET /boom" in service_log
    assert "RuntimeError: the secret sauce is 42" in service_log
    assert "unhandled error" not in (logs / "trader.log").read_text()
    assert "unhandled error" not in (logs / "export_service.log").read_text()
