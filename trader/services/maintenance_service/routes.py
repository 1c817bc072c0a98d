from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from trader.core.risk.state import StateChangeError
from trader.services.common.security import Principal, require_scope
from trader.services.maintenance_service.handlers import (
    emergency_shutdown_system,
    rate_limit_status,
    resume_trading,
    set_maintenance_mode,
    system_status,
    trading_state,
)
from trader.services.maintenance_service.schemas import (
    EMERGENCY_SHUTDOWN_BODY,
    MaintenanceModeRequest,
    ResumeRequest,
)

MAX_REASON_LENGTH = 500
Admin = Annotated[Principal, Depends(require_scope("admin"))]


async def _reason_from(request: Request) -> str:
    """`reason` from a form body (the guide's curl -d), a JSON body, or the query string."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    reason: Any = None
    if raw and content_type == "application/json":
        try:
            payload = json.loads(raw)
        except ValueError:
            raise HTTPException(422, detail="body is not valid JSON; send reason=...") from None
        reason = payload.get("reason") if isinstance(payload, dict) else None
    elif raw:
        try:
            values = parse_qs(raw.decode("utf-8"), strict_parsing=False)
        except UnicodeDecodeError:
            raise HTTPException(422, detail="body is not UTF-8 text") from None
        reason = values["reason"][0] if values.get("reason") else None
    if reason is None:
        reason = request.query_params.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise HTTPException(422, detail='a reason is required: -d "reason=..."')
    if len(reason) > MAX_REASON_LENGTH:
        raise HTTPException(422, detail=f"reason is longer than {MAX_REASON_LENGTH} characters")
    return reason


def build_router() -> APIRouter:
    router = APIRouter(tags=["maintenance"])

    @router.get("/status", summary="Whole-system status: services, database, Redis")
    async def status(request: Request) -> dict[str, Any]:
        return await system_status(request.app.state.resources)

    @router.get("/rate-limits/status", summary="Each rate-limit rule: limit, window, top clients, bypass IPs")
    async def rate_limits(
        request: Request, top: int = Query(10, ge=1, le=100, description="how many clients per rule")
    ) -> dict[str, Any]:
        return await rate_limit_status(request.app.state.resources, top=top)

    @router.get("/trading-state", summary="Trading state (active/reducing/halted) and maintenance mode")
    async def current_trading_state(request: Request) -> dict[str, Any]:
        return await trading_state(request.app.state.resources)

    @router.get("/maintenance/mode", summary="Whether the system is read-only for maintenance")
    async def maintenance_mode(request: Request) -> dict[str, Any]:
        from trader.adapters.db.stores.system_flags import SystemFlagsStore

        mode = await SystemFlagsStore(request.app.state.resources.engine).maintenance_mode()
        return mode.as_dict()

    @router.post("/maintenance/mode", summary="Switch maintenance (read-only) mode on or off")
    async def switch_maintenance_mode(
        request: Request, body: MaintenanceModeRequest, principal: Admin
    ) -> dict[str, Any]:
        request.state.audit_action = "maintenance_mode_on" if body.enabled else "maintenance_mode_off"
        request.state.audit_severity = "warning"
        request.state.audit_details = {"reason": body.reason, "enabled": body.enabled}
        mode = await set_maintenance_mode(
            request.app.state.resources,
            enabled=body.enabled,
            reason=body.reason,
            changed_by=principal.user_id,
        )
        return mode.as_dict()

    @router.post(
        "/maintenance/emergency-shutdown",
        summary="Halt trading, cancel open orders, audit and announce (Bearer token, reason=...)",
        openapi_extra=EMERGENCY_SHUTDOWN_BODY,
        responses={207: {"description": "halted, but a step (e.g. cancelling orders) failed"}},
    )
    async def emergency_shutdown(request: Request, principal: Admin) -> JSONResponse:
        reason = await _reason_from(request)
        request.state.audit_action = "emergency_shutdown"
        request.state.audit_severity = "critical"
        try:
            result = await emergency_shutdown_system(
                request.app.state.resources, reason=reason, changed_by=principal.user_id
            )
        except StateChangeError as error:
            raise HTTPException(422, detail=str(error)) from None
        request.state.audit_details = {"reason": result["reason"], "steps": result["steps"]}
        if not result["complete"]:
            failed = [name for name, step in result["steps"].items() if not step["ok"]]
            request.state.audit_error = "halted; failed steps: " + ", ".join(failed)
        return JSONResponse(result, status_code=200 if result["complete"] else 207)

    @router.post("/maintenance/resume", summary="Step trading back down from halted (admin, with a reason)")
    async def resume(request: Request, body: ResumeRequest, principal: Admin) -> dict[str, Any]:
        request.state.audit_action = "resume_trading"
        request.state.audit_severity = "warning"
        request.state.audit_details = {"reason": body.reason, "target": body.target.value}
        try:
            return await resume_trading(
                request.app.state.resources,
                reason=body.reason,
                changed_by=principal.user_id,
                target=body.target,
            )
        except StateChangeError as error:
            raise HTTPException(409, detail=str(error)) from None

    return router
