from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from trader.core.broker import BrokerError
from trader.core.market import InvalidSymbolError, normalize_symbol
from trader.core.orders import OrderStatus
from trader.services.common.security import Principal, require_scope
from trader.services.trade_executor.handlers import OrderCancelRefusedError, TradeExecutor
from trader.services.trade_executor.position_close import (
    CloseAlreadyWorkingError,
    NoPositionError,
    close_position,
)
from trader.services.trade_executor.schemas import CloseResultBody, OrderBody, PositionBody

# Ids are 64-bit rows: a larger number is a 422, not a driver overflow (a 500) in the query.
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _executor(request: Request) -> TradeExecutor:
    executor: TradeExecutor = request.app.state.executor
    return executor


def build_router() -> APIRouter:
    router = APIRouter(tags=["trade executor"])

    @router.get(
        "/broker/status", summary="Broker connectivity, account, buying power, market clock, last error"
    )
    async def broker_status(request: Request) -> JSONResponse:
        body = await _executor(request).broker_status()
        return JSONResponse(body, status_code=200 if body["connected"] else 503)

    @router.get("/account", summary="The broker account: cash, equity, buying power")
    async def account(request: Request) -> dict[str, Any]:
        try:
            value = await _executor(request).broker.get_account()
        except BrokerError as error:
            raise HTTPException(503, detail=f"broker unavailable: {error}") from error
        return {
            "broker": _executor(request).broker.name,
            "status": value.status,
            "currency": value.currency,
            "cash": str(value.cash),
            "equity": str(value.equity),
            "buying_power": str(value.buying_power),
            "trading_blocked": value.trading_blocked,
        }

    @router.get("/orders", summary="Orders, newest first (the trades table)")
    async def list_orders(
        request: Request,
        status: list[OrderStatus] = Query(default=[]),
        symbol: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[OrderBody]:
        orders = await _executor(request).orders.recent(statuses=status, symbol=symbol, limit=limit)
        return [OrderBody.of(order) for order in orders]

    @router.get("/orders/{order_id}", summary="One order with its fills")
    async def get_order(request: Request, order_id: OrderId) -> OrderBody:
        store = _executor(request).orders
        order = await store.get(order_id)
        if order is None:
            raise HTTPException(404, detail=f"no order {order_id}")
        return OrderBody.of(order, await store.fills_of(order.id))

    @router.delete("/orders/{order_id}", summary="Cancel an order at the broker", status_code=202)
    async def cancel_order(
        request: Request, order_id: OrderId, _principal: Principal = Depends(require_scope("trade"))
    ) -> OrderBody:
        try:
            order = await _executor(request).cancel(order_id)
        except OrderCancelRefusedError as error:
            status = 404 if str(error).startswith("no order") else 409
            raise HTTPException(status, detail=str(error)) from error
        except BrokerError as error:
            raise HTTPException(502, detail=f"broker error: {error}") from error
        return OrderBody.of(order)

    @router.get("/positions", summary="Open positions with average cost and realised/unrealised P&L")
    async def positions(request: Request, include_flat: bool = False) -> list[PositionBody]:
        stored = await _executor(request).positions.all(include_flat=include_flat)
        return [PositionBody.of(position) for position in stored]

    @router.post(
        "/positions/{symbol}/close",
        summary="Cancel the symbol's open orders, then close its position at market (202; 409 if refused)",
        status_code=202,
    )
    async def close_one_position(
        request: Request, symbol: str, principal: Principal = Depends(require_scope("trade"))
    ) -> JSONResponse:
        try:
            wanted = normalize_symbol(symbol)
        except InvalidSymbolError as error:
            raise HTTPException(422, detail=str(error)) from None
        request.state.audit_action = "position.close"
        request.state.audit_severity = "warning"
        try:
            closed = await close_position(_executor(request), wanted)
        except NoPositionError as error:
            raise HTTPException(404, detail=str(error)) from None
        except CloseAlreadyWorkingError as error:
            raise HTTPException(409, detail=str(error)) from None
        except BrokerError as error:
            raise HTTPException(
                502, detail=f"broker error, the position may still be open: {error}"
            ) from None
        request.state.audit_details = {"symbol": wanted, "quantity": format(closed.quantity, "f")}
        body = {
            "symbol": wanted,
            "requested_by": principal.user_id,
            "held_quantity": format(closed.quantity, "f"),
            "canceled_order_ids": list(closed.canceled_order_ids),
            "order": None if closed.order is None else OrderBody.of(closed.order).model_dump(mode="json"),
            "refusal": closed.refusal,
        }
        if not closed.sent:
            request.state.audit_error = f"close refused: {closed.refusal}"
            return JSONResponse({"detail": f"close of {wanted} refused: {closed.refusal}", **body}, 409)
        return JSONResponse(body, status_code=202)

    @router.post(
        "/emergency/close-all-positions",
        summary="Cancel every open order, then close every position (207: one result per symbol)",
    )
    async def close_all(
        request: Request, principal: Principal = Depends(require_scope("trade"))
    ) -> JSONResponse:
        request.state.audit_severity = "critical"
        try:
            report = await _executor(request).close_all()
        except BrokerError as error:
            raise HTTPException(
                502, detail=f"broker error before any position was closed: {error}"
            ) from error
        body = {
            "requested_by": principal.user_id,
            "canceled_orders": report.canceled_orders,
            "cancel_errors": report.cancel_errors,
            "positions": [CloseResultBody.of(result).model_dump() for result in report.results],
            "all_closed": report.all_closed,
        }
        return JSONResponse(body, status_code=207)

    @router.post("/orders/cancel-all", summary="Cancel every open order at the broker")
    async def cancel_all(
        request: Request, principal: Principal = Depends(require_scope("trade"))
    ) -> dict[str, Any]:
        request.state.audit_severity = "warning"
        try:
            report = await _executor(request).cancel_all_open()
        except BrokerError as error:
            raise HTTPException(502, detail=f"broker error, open orders may remain: {error}") from error
        return {"requested_by": principal.user_id, **report}

    @router.post("/reconcile", summary="Reconcile orders, fills and positions with the broker now")
    async def reconcile(
        request: Request, _principal: Principal = Depends(require_scope("trade"))
    ) -> dict[str, Any]:
        try:
            report = await _executor(request).reconcile()
        except BrokerError as error:
            raise HTTPException(502, detail=f"broker error: {error}") from error
        return report.as_dict()

    return router
