"""Routes: the page at `/`, its packaged assets, and the same-origin `/api/dashboard/*` reads."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from trader.services.common.resources import Resources
from trader.services.maintenance_service.dashboard.history import (
    equity_curve,
    recent_fills,
    recent_job_runs,
)
from trader.services.maintenance_service.dashboard.sources import SERVICE_SOURCES, fetch_source

ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# Everything the page loads is its own: no inline script, no third-party origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
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
