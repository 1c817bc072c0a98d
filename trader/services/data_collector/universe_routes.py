"""GET /universe (the last screener refresh) and POST /universe/refresh (the scheduler's job)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from trader.services.common.security import Principal, require_scope
from trader.services.data_collector.universe import UniverseBuilder

router = APIRouter(tags=["universe"])


def _builder(request: Request) -> UniverseBuilder:
    builder: UniverseBuilder | None = getattr(request.app.state, "universe", None)
    if builder is None:  # 409: the request is fine, the service's configuration refuses it
        raise HTTPException(
            409, detail="the screener is off (SCREENER_ENABLED=false); the watchlist is fixed"
        )
    return builder


@router.get("/universe", summary="The screener's last universe: ranked symbols, sources, changes, errors")
async def get_universe(request: Request) -> dict[str, Any]:
    builder = _builder(request)
    return builder.last or {"refreshed_at": None, "universe": [], "why": "not refreshed yet"}


@router.post("/universe/refresh", summary="Screen now and make the watchlist the ranked universe (+ held)")
async def refresh_universe(
    request: Request, _principal: Annotated[Principal, Depends(require_scope("trade"))]
) -> dict[str, Any]:
    request.state.audit_action = "universe.refresh"
    return await _builder(request).refresh()
