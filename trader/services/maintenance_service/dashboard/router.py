"""Routes: the page at `/`, its packaged assets, and the same-origin `/api/dashboard/*` reads."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from trader.charts.assets import ASSETS as CHART_ASSETS
from trader.charts.assets import asset_text as chart_asset
from trader.charts.assets import library_style_hashes
from trader.services.common.resources import Resources
from trader.services.common.security import Principal, require_scope
from trader.services.maintenance_service.dashboard.actions import (
    ACTIONS,
    BadTargetError,
    checked_target,
    relay,
)
from trader.services.maintenance_service.dashboard.charts import MAX_CHART_BARS, ChartRequest, symbol_chart
from trader.services.maintenance_service.dashboard.history import (
    equity_curve,
    recent_fills,
    recent_job_runs,
)
from trader.services.maintenance_service.dashboard.sources import SERVICE_SOURCES, fetch_source

ASSETS = {
    "format.js": "text/javascript; charset=utf-8",
    "widgets.js": "text/javascript; charset=utf-8",
    "panels.js": "text/javascript; charset=utf-8",
    "trading.js": "text/javascript; charset=utf-8",
    "actions.js": "text/javascript; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# Everything the page loads is its own: no inline script, no third-party origin.
SECURITY_HEADERS = {
    # The one inline style allowed is the chart library's own (by hash, computed from the bundle).
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; "
        f"style-src 'self' {' '.join(library_style_hashes())}; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> str:
    return files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def build_dashboard_router() -> APIRouter:
    router = APIRouter(tags=["dashboard"])

    @router.get("/", response_class=HTMLResponse, summary="The operators' dashboard", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_asset("index.html"), headers=SECURITY_HEADERS)

    @router.get("/dashboard/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name in CHART_ASSETS:
            return Response(chart_asset(name), media_type=CHART_ASSETS[name], headers=SECURITY_HEADERS)
        if name not in ASSETS:
            raise HTTPException(404, detail=f"no dashboard asset {name!r}")
        return Response(_asset(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)

    @router.get("/api/dashboard/sources", summary="The panels' service endpoints")
    async def sources() -> dict[str, Any]:
        return {
            name: {"service": source.service, "path": source.path} for name, source in SERVICE_SOURCES.items()
        }

    @router.get("/api/dashboard/equity", summary="Equity curve and drawdown from account snapshots")
    async def equity(request: Request, limit: int = Query(500, ge=2, le=5000)) -> dict[str, Any]:
        return await equity_curve(_resources(request).engine, limit=limit)

    @router.get(
        "/api/dashboard/chart",
        summary="A symbol's bars with the strategy's indicators, signals, orders, fills and levels",
        responses={404: {"description": "no bars of this symbol, or no such strategy"}, 422: {}},
    )
    async def chart(
        request: Request,
        symbol: str = Query(..., min_length=1, max_length=20),
        timeframe: str = Query("1day", max_length=10),
        limit: int = Query(500, ge=2, le=MAX_CHART_BARS),
        strategy: str | None = Query(None, max_length=64),
    ) -> dict[str, Any]:
        resources = _resources(request)
        wanted = ChartRequest.parse(symbol, timeframe, limit, strategy)
        return await symbol_chart(resources.engine, resources.http, resources.settings, wanted)

    @router.post(
        "/api/dashboard/actions/{action}",
        summary="Relay one confirmed operator action to its service with the caller's token",
    )
    async def act(
        request: Request,
        action: str,
        _principal: Principal = Depends(require_scope("trade")),
        body: dict[str, Any] = Body(..., examples=[{"target": "AAPL"}]),
    ) -> JSONResponse:
        if action not in ACTIONS:
            raise HTTPException(404, detail=f"no dashboard action {action!r}; known: {', '.join(ACTIONS)}")
        try:
            target = checked_target(ACTIONS[action], body.get("target"))
        except BadTargetError as error:
            raise HTTPException(422, detail=str(error)) from None
        resources = _resources(request)
        relayed = await relay(
            resources.http, resources.settings, ACTIONS[action], target, request.headers.get("authorization")
        )
        request.state.audit_action = f"dashboard.{action}"
        request.state.audit_severity = "warning"
        request.state.audit_details = {"target": target, "upstream_status": relayed.status_code}
        return JSONResponse(relayed.payload, status_code=relayed.status_code)

    @router.get("/api/dashboard/fills", summary="Most recent fills")
    async def fills(request: Request, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return await recent_fills(_resources(request).engine, limit=limit)

    @router.get("/api/dashboard/job-runs", summary="Most recent job runs")
    async def job_runs(request: Request, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return await recent_job_runs(_resources(request).engine, limit=limit)

    @router.get(
        "/api/dashboard/service/{name}",
        summary="A panel's service endpoint, fetched server-side; 502 with the upstream's error if it fails",
    )
    async def service_source(request: Request, name: str) -> JSONResponse:
        if name not in SERVICE_SOURCES:
            raise HTTPException(
                404, detail=f"no dashboard source {name!r}; known: {', '.join(SERVICE_SOURCES)}"
            )
        resources = _resources(request)
        fetched = await fetch_source(resources.http, resources.settings, name)
        return JSONResponse(fetched.payload, status_code=fetched.status_code)

    return router
