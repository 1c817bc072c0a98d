"""HTTP API of the risk manager: read endpoints are open; changing limits or trading state needs admin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from trader.adapters.db.stores.risk import (
    MAX_DECISIONS_PAGE,
    ConcurrentLimitsChangeError,
    DecisionRecord,
    LimitsVersion,
)
from trader.core.market import InvalidSymbolError, normalize_symbol
from trader.core.risk.reasons import ReasonCode
from trader.core.risk.state import StateChange, StateChangeError
from trader.services.common.security import Principal, require_scope
from trader.services.risk_manager.handlers import LimitsChangeError, RiskManager, StateConflictError
from trader.services.risk_manager.schemas import LimitsUpdate, TradingStateUpdate


def _manager(request: Request) -> RiskManager:
    manager: RiskManager = request.app.state.risk_manager
    return manager


def decision_json(record: DecisionRecord) -> dict[str, Any]:
    return {
        "decision_id": record.decision_id,
        "timestamp": record.decided_at.isoformat(),
        "decision": record.decision,
        "symbol": record.symbol,
        "side": record.side,
        "quantity": format(record.quantity.normalize(), "f"),
        "price": None if record.price is None else format(record.price.normalize(), "f"),
        "notional": None if record.notional is None else format(record.notional, "f"),
        "strategy_name": record.strategy_name,
        "signal_event_id": record.signal_event_id,
        "codes": list(record.codes),
        "reasons": list(record.reasons),
        "trading_state": record.trading_state,
        "risk_parameters_version": record.risk_parameters_version,
        "order": record.snapshot.get("order"),
        "portfolio": record.snapshot.get("portfolio"),
        "context": record.snapshot.get("context"),
    }


def limits_json(version: LimitsVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "limits": version.limits.to_dict(),
        "updated_by": version.updated_by,
        "reason": version.reason,
        "updated_at": version.updated_at.isoformat(),
    }


def state_json(change: StateChange | None) -> dict[str, Any]:
    if change is None:
        return {
            "state": "active",
            "previous_state": None,
            "reason": "no change recorded",
            "changed_by": None,
            "changed_at": None,
        }
    return {
        "state": change.state.value,
        "previous_state": change.previous_state.value,
        "reason": change.reason,
        "changed_by": change.changed_by,
        "changed_at": change.changed_at.isoformat(),
    }


def build_router() -> APIRouter:
    router = APIRouter(prefix="/risk", tags=["risk"])

    @router.get("/recent-decisions", summary="Recent decisions, newest first, with every reason")
    async def recent_decisions(
        request: Request,
        symbol: str | None = None,
        decision: Literal["approved", "denied"] | None = None,
        reason: Annotated[
            ReasonCode | None, Query(description="a reason code, e.g. MAX_POSITION_PCT_EXCEEDED")
        ] = None,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_DECISIONS_PAGE)] = 50,
    ) -> dict[str, Any]:
        if since is not None and since.tzinfo is None:
            raise HTTPException(422, detail="since needs a time zone, e.g. 2024-05-01T13:30:00Z")
        try:
            wanted = None if symbol is None else normalize_symbol(symbol)
        except InvalidSymbolError as error:
            raise HTTPException(422, detail=str(error)) from None
        records = await _manager(request).store.recent_decisions(
            symbol=wanted,
            decision=decision,
            reason_code=None if reason is None else reason.value,
            since=since,
            limit=limit,
        )
        return {"count": len(records), "decisions": [decision_json(record) for record in records]}

    @router.get("/current-metrics", summary="Equity, exposure, drawdown, daily P&L, VaR 95, concentration")
    async def current_metrics(request: Request) -> dict[str, Any]:
        return await _manager(request).current_metrics()

    @router.get("/position-limits", summary="Each position and sector against its limit, with headroom")
    async def position_limits(request: Request) -> dict[str, Any]:
        return await _manager(request).position_limits()

    @router.get("/limits", summary="The limits in force and their version")
    async def read_limits(request: Request) -> dict[str, Any]:
        return limits_json(await _manager(request).limits())

    @router.get("/limits/history", summary="Earlier versions of the limits, newest first")
    async def limits_history(
        request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 20
    ) -> dict[str, Any]:
        versions = await _manager(request).store.limits_history(limit)
        return {"versions": [limits_json(version) for version in versions]}

    @router.put("/limits", summary="Change some limits (admin); refused with the reason when nonsensical")
    async def update_limits(
        request: Request, body: LimitsUpdate, principal: Principal = Depends(require_scope("admin"))
    ) -> dict[str, Any]:
        request.state.audit_action = "risk.limits.update"
        request.state.audit_details = {"changes": body.limits, "reason": body.reason}
        try:
            version = await _manager(request).update_limits(
                body.limits,
                reason=body.reason,
                changed_by=principal.user_id,
                expected_version=body.expected_version,
            )
        except LimitsChangeError as error:
            request.state.audit_error = str(error)
            raise HTTPException(422, detail=str(error)) from None
        except ConcurrentLimitsChangeError as error:
            request.state.audit_error = str(error)
            raise HTTPException(409, detail=str(error)) from None
        return limits_json(version)

    @router.get("/trading-state", summary="ACTIVE, REDUCING or HALTED, with the last change")
    async def read_state(
        request: Request, history: Annotated[int, Query(ge=0, le=200)] = 10
    ) -> dict[str, Any]:
        manager = _manager(request)
        changes = await manager.states.history(limit=max(history, 1))
        body = state_json(changes[0] if changes else None)
        body["history"] = [state_json(change) for change in changes[:history]]
        return body

    @router.put("/trading-state", summary="Halt, reduce-only or resume (admin, with a reason)")
    async def change_state(
        request: Request, body: TradingStateUpdate, principal: Principal = Depends(require_scope("admin"))
    ) -> dict[str, Any]:
        request.state.audit_action = "risk.trading_state.change"
        request.state.audit_details = {"state": body.state.value, "reason": body.reason}
        try:
            change = await _manager(request).change_state(
                body.state, reason=body.reason, changed_by=principal.user_id
            )
        except StateChangeError as error:
            request.state.audit_error = str(error)
            raise HTTPException(422, detail=str(error)) from None
        except StateConflictError as error:
            request.state.audit_error = str(error)
            raise HTTPException(409, detail=str(error)) from None
        request.state.audit_severity = "warning"
        return state_json(change)

    return router
