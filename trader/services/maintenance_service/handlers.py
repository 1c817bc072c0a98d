"""Whole-system status: every service's /health, the database and Redis, with response times."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from trader.adapters.db.engine import ping as ping_database
from trader.services.common.resources import Resources
from trader.settings import SERVICE_NAMES

# Without these the system cannot trade safely, so their loss is critical, not degraded.
CRITICAL_SERVICES = frozenset({"risk_manager", "trade_executor"})


async def _service_status(
    http: httpx.AsyncClient, name: str, url: str, timeout_seconds: float
) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = await http.get(f"{url}/health", timeout=timeout_seconds)
    except httpx.HTTPError as error:
        return {
            "status": "down",
            "url": url,
            "response_time_ms": round((time.perf_counter() - started) * 1000, 2),
            "error": f"{type(error).__name__}: {error}" if str(error) else type(error).__name__,
        }
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    try:
        body = response.json()
    except ValueError:
        body = {}
    result: dict[str, Any] = {
        "status": body.get("status", "healthy" if response.status_code == 200 else "unhealthy"),
        "http_status": response.status_code,
        "url": url,
        "response_time_ms": elapsed,
    }
    if response.status_code != 200:
        result["failing"] = body.get("failing", [])
    return result


async def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await check()
    except Exception as error:  # reported, not raised: this is a status page
        return {
            "status": "down",
            "response_time_ms": round((time.perf_counter() - started) * 1000, 2),
            "error": f"{type(error).__name__}: {error}",
        }
    return {"status": "up", "response_time_ms": round((time.perf_counter() - started) * 1000, 2)}


def classify(services: dict[str, dict[str, Any]], database: dict[str, Any], redis: dict[str, Any]) -> str:
    if database["status"] != "up" or redis["status"] == "down":
        return "critical"
    down = {name for name, status in services.items() if status["status"] != "healthy"}
    if down & CRITICAL_SERVICES or len(down) * 2 >= len(services):
        return "critical"
    return "degraded" if down else "healthy"


async def system_status(resources: Resources) -> dict[str, Any]:
    settings = resources.settings
    timeout = settings.health_timeout_seconds
    service_checks = [
        _service_status(resources.http, name, settings.url_of(name), timeout) for name in SERVICE_NAMES
    ]
    database_check = _timed(lambda: ping_database(resources.engine))
    redis_check = _timed(resources.redis.ping) if resources.redis is not None else _not_configured()
    *service_results, database, redis = await asyncio.gather(*service_checks, database_check, redis_check)
    services = dict(zip(SERVICE_NAMES, service_results, strict=True))
    return {
        "status": classify(services, database, redis),
        "checked_at": datetime.now(UTC).isoformat(),
        "environment": settings.environment.value,
        "services": services,
        "database": {
            **database,
            "backend": "postgresql" if not settings.uses_embedded_database else "sqlite",
        },
        "redis": redis,
    }


async def _not_configured() -> dict[str, Any]:
    return {"status": "not_configured", "detail": "embedded default: in-process bus, cache and rate limits"}
