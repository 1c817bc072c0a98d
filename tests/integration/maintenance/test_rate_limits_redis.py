"""GET /rate-limits/status on Redis: usage counted across services in the guide's sorted sets."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from trader.runtime.bootstrap import open_resources
from trader.services.maintenance_service.app import create_app as create_maintenance_app
from trader.services.risk_manager.app import create_app as create_risk_manager_app
from trader.settings import Settings


def client(app: FastAPI, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 50000)), base_url="http://t")


async def test_status_shows_usage_shared_by_all_services_through_redis(
    tmp_path: Path, sqlite_url: str, redis_url: str
) -> None:
    # A client address of its own, so other tests sharing this Redis database do not count here.
    ip = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        redis_url=redis_url,
        log_dir=tmp_path,
        rate_limit_general_per_minute=6,
        rate_limit_mutations_per_minute=50,
        rate_limit_bypass_ips=["10.255.255.255"],
    )
    redis = Redis.from_url(redis_url)
    key = f"rate_limit:api_general:{ip}"
    try:
        async with open_resources(settings) as maintenance, open_resources(settings) as risk:
            maintenance_app = create_maintenance_app(maintenance)
            risk_app = create_risk_manager_app(risk)
            async with client(risk_app, ip) as risk_http, client(maintenance_app, ip) as maintenance_http:
                risk_codes = [(await risk_http.get("/risk/limits")).status_code for _ in range(3)]
                maintenance_codes = [(await maintenance_http.get("/trading-state")).status_code for _ in "ab"]
                zcard_before_status = await redis.zcard(key)
                # The sixth request of the minute, counted across both processes, is still allowed...
                response = await maintenance_http.get("/rate-limits/status")
                # ...and the seventh is refused by either service.
                refused = await risk_http.get("/risk/limits")
            async with client(maintenance_app, "10.255.255.255") as bypass:
                body = (await bypass.get("/rate-limits/status")).json()
    finally:
        await redis.delete(key)
        await redis.aclose()

    assert risk_codes == [200] * 3 and maintenance_codes == [200] * 2
    assert zcard_before_status == 5
    assert response.status_code == 200, response.text
    assert refused.status_code == 429
    assert (body["backend"], body["scope"]) == ("redis", "all services (shared Redis)")
    assert body["key_pattern"] == "rate_limit:{rule}:{client}"
    general = body["rules"]["api_general"]
    assert general["limit"] == 6
    (usage,) = [entry for entry in general["top_clients"] if entry["client"] == ip]
    assert usage == {"client": ip, "current": 6, "remaining": 0, "utilisation_pct": 100.0}
    assert all(entry["client"] != "10.255.255.255" for entry in general["top_clients"])
