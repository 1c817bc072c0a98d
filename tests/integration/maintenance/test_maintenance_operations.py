"""Maintenance service: rate-limit status, maintenance mode, emergency shutdown and resume."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from trader.adapters.db.stores.audit import AuditStore
from trader.adapters.db.stores.system_flags import SystemFlagsStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.core.events import TradingStateChanged
from trader.core.risk.state import TradingState
from trader.core.topics import TRADING_STATE
from trader.runtime.bootstrap import open_resources
from trader.services.common.resources import Resources
from trader.services.maintenance_service.app import create_app
from trader.settings import Settings

API_TOKEN = "maintenance-token-" + "q" * 30


def executor_fake(calls: list[dict[str, Any]], *, with_cancel_all: bool = True) -> FastAPI:
    """Stands in for the trade executor at the HTTP boundary: records what it is asked."""
    fake = FastAPI()
    if with_cancel_all:

        @fake.post("/orders/cancel-all")
        async def cancel_all(request: Request) -> dict[str, Any]:
            calls.append({"authorization": request.headers.get("authorization")})
            return {"cancelled": 2, "failed": 0}

    return fake


@pytest.fixture
async def resources(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Resources]:
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        log_dir=tmp_path,
        api_token=API_TOKEN,
        allow_unauthenticated_loopback=False,
        rate_limit_mutations_per_minute=50,
        rate_limit_general_per_minute=7,
        rate_limit_bypass_ips=["10.1.1.1"],
    )
    async with open_resources(settings) as opened:
        yield opened


def client(app: FastAPI, ip: str = "192.168.1.100") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 50000)), base_url="http://t")


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}


async def _use_executor(resources: Resources, fake: FastAPI) -> None:
    await resources.http.aclose()
    resources.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake))


async def test_emergency_shutdown_halts_cancels_audits_and_announces(resources: Resources) -> None:
    calls: list[dict[str, Any]] = []
    await _use_executor(resources, executor_fake(calls))
    await resources.bus.ensure_group(TRADING_STATE, "observer")
    app = create_app(resources)
    async with client(app) as http:
        # The guide's exact form: -d "reason=Security incident detected"
        response = await http.post(
            "/maintenance/emergency-shutdown",
            headers=auth(),
            content=b"reason=Security incident detected",
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["previous_state"], body["state"], body["complete"]) == ("active", "halted", True)
    assert body["reason"] == "Security incident detected"
    assert body["steps"]["cancel_open_orders"]["response"] == {"cancelled": 2, "failed": 0}
    assert calls == [{"authorization": f"Bearer {API_TOKEN}"}]

    assert await TradingStateStore(resources.engine).current_state() is TradingState.HALTED
    (delivery,) = await resources.bus.read(TRADING_STATE, "observer", "c1", block_ms=10)
    assert isinstance(delivery.event, TradingStateChanged)
    assert (delivery.event.state, delivery.event.reason) == ("halted", "Security incident detected")

    entries = await AuditStore(resources.engine).recent(action="emergency_shutdown")
    (entry,) = entries
    assert (entry.severity, entry.success, entry.user_id) == ("critical", True, "api_token")
    assert entry.details["reason"] == "Security incident detected"


async def test_shutdown_reports_a_failed_cancel_instead_of_pretending(resources: Resources) -> None:
    await _use_executor(resources, executor_fake([], with_cancel_all=False))
    app = create_app(resources)
    async with client(app) as http:
        response = await http.post(
            "/maintenance/emergency-shutdown", headers=auth(), data={"reason": "drill"}
        )
    assert response.status_code == 207
    body = response.json()
    assert body["state"] == "halted" and body["complete"] is False
    assert body["steps"]["record_state"]["ok"] is True
    assert body["steps"]["cancel_open_orders"]["ok"] is False
    assert "404" in body["steps"]["cancel_open_orders"]["detail"]
    (entry,) = await AuditStore(resources.engine).recent(action="emergency_shutdown")
    assert entry.severity == "critical" and "cancel_open_orders" in (entry.error_message or "")
    assert await TradingStateStore(resources.engine).current_state() is TradingState.HALTED


async def test_shutdown_refuses_no_token_a_wrong_token_and_no_reason(resources: Resources) -> None:
    app = create_app(resources)
    async with client(app) as http:
        missing = await http.post("/maintenance/emergency-shutdown", content=b"reason=x")
        wrong = await http.post(
            "/maintenance/emergency-shutdown", content=b"reason=x", headers={"Authorization": "Bearer nope"}
        )
        no_reason = await http.post("/maintenance/emergency-shutdown", headers=auth(), content=b"")
        as_json = await http.post("/maintenance/emergency-shutdown", headers=auth(), json={"reason": " "})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert (no_reason.status_code, as_json.status_code) == (422, 422)
    assert await TradingStateStore(resources.engine).current_state() is TradingState.ACTIVE
    refused = [e for e in await AuditStore(resources.engine).recent() if e.action == "authenticate"]
    assert sorted(e.success for e in refused) == [False, False, True, True]


async def test_resume_is_a_separate_authenticated_step_down(resources: Resources) -> None:
    await _use_executor(resources, executor_fake([]))
    app = create_app(resources)
    async with client(app) as http:
        nothing_to_resume = await http.post("/maintenance/resume", headers=auth(), json={"reason": "ok"})
        await http.post("/maintenance/emergency-shutdown", headers=auth(), content=b"reason=incident")
        anonymous = await http.post("/maintenance/resume", json={"reason": "ok"})
        resumed = await http.post(
            "/maintenance/resume", headers=auth(), json={"reason": "keys rotated", "target": "reducing"}
        )
        state = (await http.get("/trading-state")).json()
    assert nothing_to_resume.status_code == 409
    assert anonymous.status_code == 401
    assert resumed.status_code == 200 and resumed.json()["previous_state"] == "halted"
    assert state["trading_state"] == "reducing" and state["reason"] == "keys rotated"
    history = await TradingStateStore(resources.engine).history()
    assert [change.state.value for change in history] == ["reducing", "halted"]


async def test_maintenance_mode_persists_and_reads_keep_working(resources: Resources) -> None:
    app = create_app(resources)
    async with client(app) as http:
        before = (await http.get("/maintenance/mode")).json()
        refused = await http.post("/maintenance/mode", json={"enabled": True, "reason": "upgrade"})
        switched = await http.post(
            "/maintenance/mode", headers=auth(), json={"enabled": True, "reason": "database upgrade"}
        )
        status = await http.get("/status")
    assert before["enabled"] is False
    assert refused.status_code == 401
    assert switched.status_code == 200 and switched.json()["enabled"] is True
    assert status.status_code == 200
    # A new process (a new app over the same database) sees the flag.
    mode = await SystemFlagsStore(resources.engine).maintenance_mode()
    assert (mode.enabled, mode.reason, mode.changed_by) == (True, "database upgrade", "api_token")
    async with client(create_app(resources)) as http:
        assert (await http.get("/trading-state")).json()["maintenance_mode"]["enabled"] is True
        off = await http.post("/maintenance/mode", headers=auth(), json={"enabled": False, "reason": "done"})
    assert off.json()["enabled"] is False
    (entry,) = await AuditStore(resources.engine).recent(action="maintenance_mode_on")
    assert entry.details == {"reason": "database upgrade", "enabled": True}


async def test_rate_limit_status_shows_rules_usage_and_bypass(resources: Resources) -> None:
    app = create_app(resources)
    async with client(app) as http:
        for _ in range(4):
            await http.get("/rate-limits/status")
        async with client(app, ip="10.1.1.1") as bypass:
            bypass_codes = [(await bypass.get("/rate-limits/status")).status_code for _ in range(12)]
        codes = [(await http.get("/rate-limits/status")).status_code for _ in range(4)]
        async with client(app, ip="10.1.1.1") as bypass:
            body = (await bypass.get("/rate-limits/status")).json()
    assert bypass_codes == [200] * 12
    assert codes == [200, 200, 200, 429]
    general = body["rules"]["api_general"]
    assert (general["limit"], general["window_seconds"]) == (7, 60)
    assert general["top_clients"] == [
        {"client": "192.168.1.100", "current": 7, "remaining": 0, "utilisation_pct": 100.0}
    ]
    assert body["rules"]["api_mutations"]["limit"] == 50
    assert body["bypass_ips"] == ["10.1.1.1"]
    assert body["backend"] == "in_process"
