"""Maintenance use cases: whole-system status, rate-limit usage, maintenance mode, emergency shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from trader.adapters.db.engine import ping as ping_database
from trader.adapters.db.stores.system_flags import MaintenanceMode, SystemFlagsStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.core.risk.state import StateChange, TradingState, emergency_shutdown, resume
from trader.core.topics import TRADING_STATE
from trader.services.common.resources import Resources
from trader.settings import SERVICE_NAMES

log = logging.getLogger(__name__)
# The trade executor's "cancel every open order" endpoint.
CANCEL_ALL_PATH = "/orders/cancel-all"
CANCEL_TIMEOUT_SECONDS = 15.0

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


# ---------------------------------------------------------------------------------------------
# Rate limits


async def rate_limit_status(resources: Resources, *, top: int = 10) -> dict[str, Any]:
    """Per rule: its limit and window, and the clients using most of it right now."""
    from trader.services.common.app_factory import RATE_WINDOW_SECONDS

    settings = resources.settings
    rules = {
        "api_general": (settings.rate_limit_general_per_minute, "every request except /health and /metrics"),
        "api_mutations": (settings.rate_limit_mutations_per_minute, "POST, PUT, PATCH and DELETE requests"),
    }
    body: dict[str, Any] = {
        "backend": "redis" if resources.redis is not None else "in_process",
        # Without Redis each process counts only its own requests; say so rather than imply a total.
        "scope": "all services (shared Redis)" if resources.redis is not None else "this process",
        "key_pattern": "rate_limit:{rule}:{client}",
        "bypass_ips": list(settings.rate_limit_bypass_ips),
        "rules": {},
        "checked_at": datetime.now(UTC).isoformat(),
    }
    for rule, (limit, applies_to) in rules.items():
        usage = await resources.rate_limiter.usage(rule, window_seconds=RATE_WINDOW_SECONDS, top=top)
        body["rules"][rule] = {
            "limit": limit,
            "window_seconds": RATE_WINDOW_SECONDS,
            "applies_to": applies_to,
            "top_clients": [
                {
                    "client": entry.client,
                    "current": entry.current,
                    "remaining": max(0, limit - entry.current),
                    "utilisation_pct": round(100 * entry.current / limit, 1),
                }
                for entry in usage
            ],
        }
    return body


# ---------------------------------------------------------------------------------------------
# Maintenance mode, emergency shutdown and resume


async def set_maintenance_mode(
    resources: Resources, *, enabled: bool, reason: str, changed_by: str
) -> MaintenanceMode:
    store = SystemFlagsStore(resources.engine)
    mode = await store.set_maintenance_mode(
        enabled=enabled, reason=reason, changed_by=changed_by, changed_at=datetime.now(UTC)
    )
    log.warning(
        "maintenance mode %s by %s: %s", "ENABLED" if enabled else "disabled", changed_by, mode.reason
    )
    return mode


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, **self.data}


async def _publish(resources: Resources, change: StateChange) -> StepResult:
    try:
        message_id = await resources.bus.publish(TRADING_STATE, change.to_event())
    except Exception as error:  # reported in the response; the state row is already written
        log.exception("could not publish the trading state change")
        return StepResult("publish_event", False, f"{type(error).__name__}: {error}")
    return StepResult("publish_event", True, f"TradingStateChanged on {TRADING_STATE!r}", {"id": message_id})


async def cancel_open_orders(resources: Resources) -> StepResult:
    """Ask the trade executor to cancel every open order; report exactly what it said."""
    settings = resources.settings
    url = f"{settings.url_of('trade_executor')}{CANCEL_ALL_PATH}"
    headers = {}
    if settings.api_token is not None:
        headers["Authorization"] = f"Bearer {settings.api_token.get_secret_value()}"
    try:
        response = await resources.http.post(url, headers=headers, timeout=CANCEL_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return StepResult(
            "cancel_open_orders", False, f"trade executor unreachable at {url}: {type(error).__name__}"
        )
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code == 404:
        return StepResult(
            "cancel_open_orders",
            False,
            f"the trade executor has no {CANCEL_ALL_PATH} endpoint (HTTP 404); cancel open orders by hand",
        )
    if response.status_code >= 300:
        return StepResult(
            "cancel_open_orders",
            False,
            f"trade executor answered HTTP {response.status_code}",
            {"response": payload},
        )
    return StepResult(
        "cancel_open_orders", True, "trade executor cancelled open orders", {"response": payload}
    )


async def emergency_shutdown_system(resources: Resources, *, reason: str, changed_by: str) -> dict[str, Any]:
    """HALT trading (recorded, then announced), cancel open orders, and say what each step did."""
    states = TradingStateStore(resources.engine)
    current = await states.current_state()
    change = emergency_shutdown(current, reason, changed_by, datetime.now(UTC))
    await states.record(change)
    log.critical(
        "EMERGENCY SHUTDOWN by %s: trading %s -> halted: %s", changed_by, current.value, change.reason
    )
    steps = [
        StepResult("record_state", True, f"trading state {current.value} -> {change.state.value}"),
        await _publish(resources, change),
        await cancel_open_orders(resources),
    ]
    for step in steps:
        if not step.ok:
            log.error("emergency shutdown step %s failed: %s", step.name, step.detail)
    return {
        "status": "halted",
        "complete": all(step.ok for step in steps),
        "previous_state": current.value,
        "state": change.state.value,
        "reason": change.reason,
        "changed_by": change.changed_by,
        "changed_at": change.changed_at.isoformat(),
        "steps": {step.name: step.as_dict() for step in steps},
        "resume": "POST /maintenance/resume with a reason (admin token)",
    }


async def resume_trading(
    resources: Resources, *, reason: str, changed_by: str, target: TradingState
) -> dict[str, Any]:
    states = TradingStateStore(resources.engine)
    current = await states.current_state()
    change = resume(current, reason, changed_by, datetime.now(UTC), target)
    await states.record(change)
    log.warning("trading resumed by %s: %s -> %s: %s", changed_by, current.value, target.value, reason)
    published = await _publish(resources, change)
    return {
        "previous_state": current.value,
        "state": change.state.value,
        "reason": change.reason,
        "changed_by": change.changed_by,
        "changed_at": change.changed_at.isoformat(),
        "steps": {published.name: published.as_dict()},
    }


async def trading_state(resources: Resources) -> dict[str, Any]:
    change = await TradingStateStore(resources.engine).current()
    mode = await SystemFlagsStore(resources.engine).maintenance_mode()
    return {
        "trading_state": change.state.value if change else TradingState.ACTIVE.value,
        "since": change.changed_at.isoformat() if change else None,
        "reason": change.reason if change else None,
        "changed_by": change.changed_by if change else None,
        "maintenance_mode": mode.as_dict(),
    }
