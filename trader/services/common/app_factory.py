"""Builds a service's FastAPI app: health, metrics, logging context, error handling.

Each service's `create_app(resources)` calls `build_service_app` with its routers, its health
components and its background workers; nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import trader
from trader.adapters.db.engine import ping as ping_database
from trader.services.common.errors import install_error_handlers
from trader.services.common.health import ComponentCheck, overall_health, run_checks
from trader.services.common.logs import current_service
from trader.services.common.metrics import CONTENT_TYPE_LATEST, ServiceMetrics
from trader.services.common.resources import Resources

access_log = logging.getLogger("trader.access")
BackgroundWorker = Callable[[], Coroutine[Any, Any, None]]


class ServiceMiddleware:
    """Tags log lines with the service, times every request, writes the access log."""

    def __init__(self, app: ASGIApp, service: str, metrics: ServiceMetrics) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = current_service.set(self.service)
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, elapsed)
            client = scope.get("client")
            level = logging.WARNING if status in (401, 403, 429) or status >= 500 else logging.INFO
            if template not in ("/health", "/metrics") or level > logging.INFO:
                access_log.log(
                    level,
                    '%s "%s %s" %d %.1fms',
                    client[0] if client else "-",
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                )
            current_service.reset(token)


def default_components(resources: Resources) -> list[ComponentCheck]:
    components = [ComponentCheck("database", lambda: ping_database(resources.engine))]
    components.append(ComponentCheck(resources.bus_component, resources.bus.ping))
    return components


def build_service_app(
    service: str,
    resources: Resources,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    components: Sequence[ComponentCheck] = (),
    workers: Sequence[BackgroundWorker] = (),
    extra_health: Callable[[], Awaitable[dict[str, Any]]] | None = None,
) -> FastAPI:
    metrics = ServiceMetrics(service)
    metrics.service_info.labels(service, trader.__version__).set(1)
    checks = [*default_components(resources), *components]
    log = logging.getLogger(f"trader.services.{service}")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        token = current_service.set(service)
        tasks = [
            asyncio.create_task(worker(), name=f"{service}:{getattr(worker, '__name__', 'worker')}")
            for worker in workers
        ]
        resources.started_at[service] = time.time()
        log.info("%s started", service)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("%s stopped", service)
            current_service.reset(token)

    app = FastAPI(title=title, version=trader.__version__, lifespan=lifespan)
    app.state.service = service
    app.state.resources = resources
    app.state.metrics = metrics
    install_error_handlers(app)

    @app.get("/health", tags=["operations"], summary="Service health with a check per component")
    async def health() -> JSONResponse:
        statuses = await run_checks(checks, resources.settings.health_timeout_seconds)
        for status in statuses:
            metrics.component_up.labels(service, status.name).set(1 if status.healthy else 0)
        state = overall_health(statuses)
        started = resources.started_at.get(service)
        body: dict[str, Any] = {
            "service": service,
            "status": state,
            "version": trader.__version__,
            "uptime_seconds": round(time.time() - started, 1) if started else 0.0,
            "components": {status.name: status.as_dict() for status in statuses},
        }
        failing = [status.name for status in statuses if not status.healthy and status.critical]
        if failing:
            body["failing"] = failing
        if extra_health is not None:
            body.update(await extra_health())
        return JSONResponse(body, status_code=503 if state == "unhealthy" else 200)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    app.add_middleware(ServiceMiddleware, service=service, metrics=metrics)
    return app
