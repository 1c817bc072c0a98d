from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParameter
from fastapi.responses import FileResponse

from trader.adapters.db.stores.exports import DATASETS, ExportJobStore
from trader.core.market import InvalidSymbolError, normalize_symbol
from trader.services.common.security import Principal, require_scope
from trader.services.export_service.handlers import build_daily_summary, run_export
from trader.services.export_service.schemas import ALLOWED_FORMATS, ExportKind, ExportRequest

# Ids are 64-bit rows: a larger number is a 422, not a driver overflow (a 500) in the query.
JobId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]

Trader = Annotated[Principal, Depends(require_scope("trade"))]
MEDIA_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "html": "text/html",
}


def build_router() -> APIRouter:
    router = APIRouter(tags=["exports"])

    @router.get("/exports/kinds", summary="What can be exported, and in which formats")
    async def kinds() -> dict[str, Any]:
        return {
            kind.value: {
                "formats": [f.value for f in ALLOWED_FORMATS[kind]],
                "description": DATASETS[kind.value].description if kind.value in DATASETS else kind.value,
            }
            for kind in ExportKind
        }

    @router.post(
        "/exports", summary="Export a dataset or report to a file (recorded as a job)", status_code=201
    )
    async def create_export(request: Request, body: ExportRequest, principal: Trader) -> dict[str, Any]:
        request.state.audit_action = "export"
        request.state.audit_details = {"kind": body.kind.value, "format": str(body.format)}
        return await run_export(request.app.state.resources, body, requested_by=principal.user_id)

    @router.get("/exports", summary="Export jobs, newest first")
    async def list_exports(
        request: Request,
        limit: int = Query(50, ge=1, le=500),
        kind: ExportKind | None = Query(None),
    ) -> list[dict[str, Any]]:
        jobs = await ExportJobStore(request.app.state.resources.engine).recent(
            limit=limit, kind=kind.value if kind else None
        )
        return [job.as_dict() for job in jobs]

    @router.get("/exports/{job_id}", summary="One export job")
    async def get_export(request: Request, job_id: JobId) -> dict[str, Any]:
        job = await ExportJobStore(request.app.state.resources.engine).get(job_id)
        if job is None:
            raise HTTPException(404, detail=f"no export job {job_id}")
        return job.as_dict()

    @router.get("/exports/{job_id}/download", summary="The exported file", response_class=FileResponse)
    async def download(request: Request, job_id: JobId) -> FileResponse:
        job = await ExportJobStore(request.app.state.resources.engine).get(job_id)
        if job is None:
            raise HTTPException(404, detail=f"no export job {job_id}")
        if job.status != "succeeded" or not job.path or not await asyncio.to_thread(Path(job.path).exists):
            raise HTTPException(409, detail=f"export {job_id} has no file ({job.status})")
        return FileResponse(job.path, media_type=MEDIA_TYPES.get(job.format), filename=Path(job.path).name)

    @router.get("/reports/daily-summary", summary="One day's orders, fills, realised P&L, signals, decisions")
    async def daily(
        request: Request,
        day: date | None = Query(None, description="YYYY-MM-DD (UTC); default today"),
        symbols: list[str] = Query(default_factory=list),
    ) -> dict[str, Any]:
        chosen = day or datetime.now(UTC).date()
        try:
            normalised = [normalize_symbol(symbol) for symbol in symbols]
        except InvalidSymbolError as error:
            raise HTTPException(422, detail=str(error)) from None
        start = datetime(chosen.year, chosen.month, chosen.day, tzinfo=UTC)
        return await build_daily_summary(request.app.state.resources.engine, start, normalised)

    return router
