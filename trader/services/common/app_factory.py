"""Builds a service's FastAPI app: health, metrics, logging context, error handling.

Each service's `create_app(resources)` calls `build_service_app` with its routers, its health
components and its background workers; nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import trader
from trader.adapters.db.engine import ping as ping_database
from trader.adapters.db.stores.audit import AuditEntry, AuditStore
from trader.adapters.rate_limits import RateDecision
from trader.services.common.errors import install_error_handlers
from trader.services.common.health import ComponentCheck, overall_health, run_checks
from trader.services.common.logs import current_service
from trader.services.common.metrics import CONTENT_TYPE_LATEST, ServiceMetrics
from trader.services.common.resources import Resources
from trader.services.common.security import Authenticator, principal_of

access_log = logging.getLogger("trader.access")
log = logging.getLogger(__name__)
BackgroundWorker = Callable[[], Coroutine[Any, Any, None]]


MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNLIMITED_PATHS = frozenset({"/health", "/metrics"})
RATE_WINDOW_SECONDS = 60
# How long a service waits for its cancelled workers at shutdown. Docker's stop gives 10 s before
# SIGKILL: a worker stuck past this is named with its stack in the log and left behind, so the
# service still closes its resources and exits instead of being killed without a word.
WORKER_STOP_SECONDS = 8.0


class ServiceMiddleware:
    """Per request: service log context, rate limits, timing and metrics, access log, audit."""

    def __init__(self, app: ASGIApp, service: str, metrics: ServiceMetrics, resources: Resources) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics
        self.resources = resources
        self.audit = AuditStore(resources.engine)
        self.bypass = frozenset(resources.settings.rate_limit_bypass_ips)

    async def _rate_limited(self, scope: Scope, client_ip: str) -> RateDecision | None:
        if scope["path"] in UNLIMITED_PATHS or client_ip in self.bypass:
            return None
        settings = self.resources.settings
        rules = [("api_general", settings.rate_limit_general_per_minute)]
        if scope["method"] in MUTATING_METHODS:
            rules.append(("api_mutations", settings.rate_limit_mutations_per_minute))
        for rule, limit in rules:
            try:
                decision = await self.resources.rate_limiter.hit(
                    rule, client_ip, limit=limit, window_seconds=RATE_WINDOW_SECONDS
                )
            except Exception:  # a limiter outage must not take the API down; it is logged
                log.exception("rate limiter unavailable; letting the request through")
                return None
            if not decision.allowed:
                return decision
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = current_service.set(self.service)
        started = time.perf_counter()
        status = 500
        client = scope.get("client")
        client_ip = client[0] if client else "-"

        response_started = False

        async def send_with_status(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            refused = await self._rate_limited(scope, client_ip)
            if refused is not None:
                response = JSONResponse(
                    {
                        "error": "rate limit exceeded",
                        "message": f"more than {refused.limit} requests in {RATE_WINDOW_SECONDS}s; "
                        f"retry in {refused.retry_after_seconds}s",
                    },
                    status_code=429,
                    headers={"Retry-After": str(refused.retry_after_seconds)},
                )
                await response(scope, receive, send_with_status)
            else:
                await self.app(scope, receive, send_with_status)
        except Exception:
            # Caught here, inside the service's log context, so the traceback lands in
            # logs/<service>.log; the client gets a plain 500 with no internals.
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not response_started:
                await JSONResponse(
                    {"error": "internal error", "message": "unexpected error; see the service log"},
                    status_code=500,
                )(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, elapsed)
            level = logging.WARNING if status in (401, 403, 429) or status >= 500 else logging.INFO
            if template not in UNLIMITED_PATHS or level > logging.INFO:
                access_log.log(
                    level,
                    '%s "%s %s" %d %.1fms',
                    client_ip,
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                )
            if scope["method"] in MUTATING_METHODS:
                await self._audit_call(scope, template, status, client_ip, elapsed)
            current_service.reset(token)

    async def _audit_call(
        self, scope: Scope, template: str, status: int, client_ip: str, elapsed: float
    ) -> None:
        state = scope.get("state") or {}
        principal = principal_of(state)
        severity = state.get("audit_severity") or (
            "error" if status >= 500 else "warning" if status >= 400 else "info"
        )
        entry = AuditEntry(
            timestamp=datetime.now(UTC),
            action=state.get("audit_action") or f"{scope['method']} {template}",
            service_name=self.service,
            success=status < 400,
            user_id=principal.user_id if principal else None,
            ip_address=client_ip,
            resource=scope["path"],
            method=scope["method"],
            status_code=status,
            error_message=state.get("audit_error") or (None if status < 400 else f"HTTP {status}"),
            severity=severity,
            execution_time_ms=round(elapsed * 1000, 3),
            details=state.get("audit_details") or {},
        )
        try:
            await self.audit.record(entry)
        except Exception:  # the response is already sent; the operator must hear about the gap
            log.exception("could not write the audit entry for %s %s", scope["method"], scope["path"])


def default_components(resources: Resources) -> list[ComponentCheck]:
    components = [ComponentCheck("database", lambda: ping_database(resources.engine))]
    components.append(ComponentCheck(resources.bus_component, resources.bus.ping))
    return components


async def stop_workers(tasks: Sequence[asyncio.Task[None]], log: logging.Logger) -> None:
    """Cancel the workers and wait for them, at most WORKER_STOP_SECONDS; name any that did not stop."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=WORKER_STOP_SECONDS)
    for task in done:
        if not task.cancelled():
            task.exception()  # retrieved: a worker's failure was logged by the worker itself
    for task in pending:
        stack = io.StringIO()
        task.print_stack(file=stack)
        log.warning(
            "worker %s did not stop within %gs of cancellation; left behind:\n%s",
            task.get_name(),
            WORKER_STOP_SECONDS,
            stack.getvalue(),
        )


def build_service_app(
    service: str,
    resources: Resources,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    components: Sequence[ComponentCheck] = (),
    workers: Sequence[BackgroundWorker] = (),
    extra_health: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    metrics: ServiceMetrics | None = None,
) -> FastAPI:
    """`metrics` may be made first when a worker needs the service's registry before the app exists."""
    metrics = metrics or ServiceMetrics(service)
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
            await stop_workers(tasks, log)
            log.info("%s stopped", service)
            current_service.reset(token)

    app = FastAPI(title=title, version=trader.__version__, lifespan=lifespan)
    app.state.service = service
    app.state.resources = resources
    app.state.metrics = metrics
    app.state.authenticator = Authenticator(resources.settings)
    app.state.audit_store = AuditStore(resources.engine)
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
    if resources.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=resources.settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(ServiceMiddleware, service=service, metrics=metrics, resources=resources)
    return app
