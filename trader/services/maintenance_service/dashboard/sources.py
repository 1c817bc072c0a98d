"""Which service endpoint backs each dashboard panel, and the server-side fetch of it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from trader.settings import Settings


@dataclass(frozen=True, slots=True)
class ServiceSource:
    service: str
    path: str
    # An endpoint other work adds later: its absence (HTTP 404) is "not available", not an error.
    optional: bool = False


# Only these are reachable through the proxy: it must not become an open relay.
SERVICE_SOURCES: dict[str, ServiceSource] = {
    "status": ServiceSource("maintenance_service", "/status"),
    "trading-state": ServiceSource("maintenance_service", "/trading-state"),
    "rate-limits": ServiceSource("maintenance_service", "/rate-limits/status"),
    "risk-metrics": ServiceSource("risk_manager", "/risk/current-metrics"),
    "risk-decisions": ServiceSource("risk_manager", "/risk/recent-decisions"),
    "position-limits": ServiceSource("risk_manager", "/risk/position-limits"),
    "positions": ServiceSource("trade_executor", "/positions"),
    "orders": ServiceSource("trade_executor", "/orders"),
    "account": ServiceSource("trade_executor", "/account"),
    "broker": ServiceSource("trade_executor", "/broker/status"),
    "signals": ServiceSource("strategy_engine", "/signals"),
    "strategies": ServiceSource("strategy_engine", "/strategies/list"),
    "data-status": ServiceSource("data_collector", "/data/status"),
    "jobs": ServiceSource("scheduler", "/jobs"),
    # Streams' state: each source's health, and the executor's and collector's own health (their
    # streams report there), so the panel lights up as those services say more.
    "data-sources": ServiceSource("data_collector", "/data/sources/status"),
    "collector-health": ServiceSource("data_collector", "/health"),
    "executor-health": ServiceSource("trade_executor", "/health"),
    "risk-denials": ServiceSource("risk_manager", "/risk/recent-decisions?decision=denied&limit=200"),
    "risk-state-history": ServiceSource("risk_manager", "/risk/trading-state?history=20"),
    "risk-limits": ServiceSource("risk_manager", "/risk/limits"),
    "models": ServiceSource("strategy_engine", "/models", optional=True),
    "llm-usage": ServiceSource("strategy_engine", "/llm/usage", optional=True),
}

MAX_ERROR_BODY = 600


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the upstream answered; `payload` is its JSON on success, else an error description."""

    ok: bool
    payload: Any
    status_code: int


async def fetch_source(http: httpx.AsyncClient, settings: Settings, name: str) -> Fetched:
    source = SERVICE_SOURCES[name]
    url = f"{settings.url_of(source.service)}{source.path}"
    where = f"{source.service} GET {source.path}"
    started = time.perf_counter()
    try:
        response = await http.get(url, timeout=settings.health_timeout_seconds * 2)
    except httpx.HTTPError as error:
        return Fetched(
            False,
            {
                "error": f"{where}: {type(error).__name__}" + (f": {error}" if str(error) else ""),
                "upstream_url": url,
            },
            502,
        )
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    if source.optional and response.status_code == 404:
        return Fetched(True, {"available": False, "detail": f"{where} does not exist on this system"}, 200)
    if response.is_success:
        try:
            return Fetched(True, response.json(), 200)
        except ValueError:
            return Fetched(False, {"error": f"{where}: answered HTTP 200 with a body that is not JSON"}, 502)
    return Fetched(
        False,
        {
            "error": f"{where}: HTTP {response.status_code} {response.reason_phrase}",
            "upstream_status": response.status_code,
            "upstream_url": url,
            "upstream_body": response.text[:MAX_ERROR_BODY],
            "response_time_ms": elapsed_ms,
        },
        502,
    )
