from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from trader.services.maintenance_service.handlers import system_status


def build_router() -> APIRouter:
    router = APIRouter(tags=["maintenance"])

    @router.get("/status", summary="Whole-system status: services, database, Redis")
    async def status(request: Request) -> dict[str, Any]:
        return await system_status(request.app.state.resources)

    return router
