"""Mutating calls need a token, every attempt and every mutating call is audited, bursts get 429."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from redis.asyncio import Redis

from trader.adapters.db.stores.audit import AuditStore
from trader.adapters.rate_limits import InProcessRateLimiter, RedisRateLimiter
from trader.runtime.bootstrap import open_resources
from trader.services.common.app_factory import build_service_app
from trader.services.common.resources import Resources
from trader.services.common.security import Principal, issue_token, require_scope
from trader.settings import Settings

SECRET = "k" * 40
API_TOKEN = "api-token-" + "z" * 30


def _router() -> APIRouter:
    router = APIRouter()

    @router.post("/things")
    async def make_thing(
        request: Request, principal: Principal = Depends(require_scope("trade"))
    ) -> dict[str, str]:
        request.state.audit_details = {"thing": "made"}
        return {"by": principal.user_id}

    @router.get("/things")
    async def list_things() -> list[str]:
        return []

    return router


@pytest.fixture(params=["in_process", "redis"])
async def resources(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str
) -> AsyncIterator[Resources]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=sqlite_url,
        log_dir=tmp_path,
        api_secret_key=SECRET,
        api_token=API_TOKEN,
        allow_unauthenticated_loopback=False,
        rate_limit_mutations_per_minute=3,
        rate_limit_general_per_minute=1000,
        rate_limit_bypass_ips=["10.9.9.9"],
    )
    async with open_resources(settings) as opened:
        if request.param == "redis":
            client = Redis.from_url(request.getfixturevalue("redis_url"))
            await client.flushdb()
            opened.rate_limiter = RedisRateLimiter(client)
        else:
            opened.rate_limiter = InProcessRateLimiter()
        yield opened
        if request.param == "redis":
            await client.aclose()


def app_for(resources: Resources) -> FastAPI:
    return build_service_app("risk_manager", resources, title="test", routers=[_router()])


def client(app: FastAPI, ip: str = "192.168.1.100") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 50000)), base_url="http://t")


async def test_mutations_are_refused_without_a_valid_token_and_audited(resources: Resources) -> None:
    app = app_for(resources)
    async with client(app) as http:
        missing = await http.post("/things")
        wrong = await http.post("/things", headers={"Authorization": "Bearer not-the-token"})
        reader = await http.post(
            "/things", headers={"Authorization": f"Bearer {issue_token(SECRET, 'r', 'read', 60)}"}
        )
    assert missing.status_code == 401 and "missing bearer token" in missing.json()["message"]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401 and wrong.json()["message"] == "invalid token"
    assert reader.status_code == 403 and "'trade' scope" in reader.json()["message"]
    entries = await AuditStore(resources.engine).recent(limit=20)
    attempts = [e for e in entries if e.action == "authenticate"]
    assert [(e.success, e.error_message) for e in reversed(attempts)] == [
        (False, "missing bearer token: send 'Authorization: Bearer <API_TOKEN or JWT>'"),
        (False, "invalid token"),
        (True, None),
    ]
    calls = [e for e in entries if e.action == "POST /things"]
    assert sorted(e.status_code for e in calls) == [401, 401, 403]
    assert all(not e.success and e.ip_address == "192.168.1.100" for e in calls)
    # Secrets never land in the audit trail.
    assert all(API_TOKEN not in repr(e) and SECRET not in repr(e) for e in entries)


async def test_an_authorised_mutation_is_audited_with_who_and_how_long(resources: Resources) -> None:
    app = app_for(resources)
    token = issue_token(SECRET, "alice", "trade", 60)
    async with client(app) as http:
        response = await http.post("/things", headers={"Authorization": f"Bearer {token}"})
        assert (await http.get("/things")).status_code == 200
    assert response.status_code == 200 and response.json() == {"by": "alice"}
    (call,) = [e for e in await AuditStore(resources.engine).recent() if e.action == "POST /things"]
    assert (call.success, call.user_id, call.status_code, call.service_name) == (
        True,
        "alice",
        200,
        "risk_manager",
    )
    assert call.details == {"thing": "made"}
    assert call.execution_time_ms is not None and call.execution_time_ms >= 0
    # Reads are not audited as mutations.
    assert not [e for e in await AuditStore(resources.engine).recent() if e.action.startswith("GET")]


async def test_a_burst_over_the_limit_gets_429_with_retry_after(resources: Resources) -> None:
    app = app_for(resources)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with client(app) as http:
        codes = [(await http.post("/things", headers=headers)).status_code for _ in range(5)]
        refused = await http.post("/things", headers=headers)
        assert (await http.get("/health")).status_code == 200  # monitoring is never limited
    assert codes == [200, 200, 200, 429, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "retry in" in refused.json()["message"]
    usage = await resources.rate_limiter.usage("api_mutations", window_seconds=60)
    assert [(u.client, u.current) for u in usage] == [("192.168.1.100", 3)]
    if isinstance(resources.rate_limiter, RedisRateLimiter):
        redis = resources.rate_limiter._redis
        assert await redis.zcard("rate_limit:api_mutations:192.168.1.100") == 3


async def test_a_bypass_ip_is_not_limited(resources: Resources) -> None:
    app = app_for(resources)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with client(app, ip="10.9.9.9") as http:
        codes = [(await http.post("/things", headers=headers)).status_code for _ in range(6)]
    assert codes == [200] * 6
