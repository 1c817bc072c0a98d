"""Component health checks: each dependency is pinged with a timeout and named when it fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

CheckFunction = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ComponentCheck:
    name: str
    check: CheckFunction
    # A non-critical component being down degrades the service without failing /health.
    critical: bool = True


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    healthy: bool
    latency_ms: float
    critical: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "status": "up" if self.healthy else "down",
            "latency_ms": round(self.latency_ms, 2),
        }
        if self.detail:
            payload["detail"] = self.detail
        if not self.critical:
            payload["critical"] = False
        return payload


async def _run_one(component: ComponentCheck, timeout_seconds: float) -> ComponentStatus:
    started = time.perf_counter()
    healthy = False
    try:
        result = await asyncio.wait_for(component.check(), timeout=timeout_seconds)
    except TimeoutError:
        detail = f"no answer within {timeout_seconds:g}s"
    except Exception as error:  # a health check reports every failure, it never raises
        detail = f"{type(error).__name__}: {error}"
    else:
        healthy, detail = True, result if isinstance(result, str) else ""
    elapsed_ms = (time.perf_counter() - started) * 1000
    return ComponentStatus(component.name, healthy, elapsed_ms, component.critical, detail)


async def run_checks(components: Sequence[ComponentCheck], timeout_seconds: float) -> list[ComponentStatus]:
    return list(await asyncio.gather(*(_run_one(component, timeout_seconds) for component in components)))


def overall_health(statuses: Sequence[ComponentStatus]) -> str:
    if any(not status.healthy and status.critical for status in statuses):
        return "unhealthy"
    if any(not status.healthy for status in statuses):
        return "degraded"
    return "healthy"
