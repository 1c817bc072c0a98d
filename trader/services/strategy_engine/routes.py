"""Strategy engine HTTP API (port 8002). Reads are open; changes need the 'trade' scope."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from trader.adapters.db.stores.strategies import (
    StrategyConfig,
    StrategyConfigExistsError,
    StrategyConfigNotFoundError,
)
from trader.core.llm.strategy import LLM_STRATEGY_TYPE_NAME
from trader.core.market import InvalidSymbolError, Timeframe
from trader.core.strategies.catalog import InvalidParametersError, UnknownStrategyTypeError
from trader.services.common.security import Principal, require_scope
from trader.services.strategy_engine.handlers import ModelUnavailableError, StrategyEngine
from trader.services.strategy_engine.schemas import (
    BacktestRequest,
    StrategyConfigCreate,
    StrategyConfigUpdate,
)


def _engine(request: Request) -> StrategyEngine:
    engine: StrategyEngine = request.app.state.strategy_engine
    return engine


def _checked(engine: StrategyEngine, strategy_type: str, parameters: dict[str, Any]) -> None:
    try:
        engine.validate(strategy_type, parameters)
    except UnknownStrategyTypeError as error:
        raise HTTPException(404, detail=str(error)) from None
    except InvalidParametersError as error:
        raise HTTPException(422, detail=f"invalid parameter {error}") from None


def _symbols(symbols: list[str]) -> list[str]:
    try:
        return StrategyEngine.normalize_symbols(symbols)
    except InvalidSymbolError as error:
        raise HTTPException(422, detail=str(error)) from None


def _timeframe(text: str) -> str:
    try:
        return Timeframe.parse(text).value
    except ValueError as error:
        raise HTTPException(422, detail=str(error)) from None


def _audit(request: Request, action: str, details: dict[str, Any]) -> None:
    request.state.audit_action = action
    request.state.audit_details = details


def build_router() -> APIRouter:
    router = APIRouter(tags=["strategies"])

    @router.get("/strategies/list", summary="Configurations: type, parameters, enabled, symbols, last signal")
    async def list_strategies(request: Request) -> dict[str, Any]:
        return await _engine(request).list_strategies()

    @router.get("/strategies/types", summary="Every strategy type with its documented parameters")
    async def strategy_types(request: Request) -> list[dict[str, Any]]:
        return _engine(request).describe_types()

    @router.get("/strategies/data-status", summary="Per strategy and symbol: bars stored vs lookback needed")
    async def data_status(request: Request) -> dict[str, Any]:
        return await _engine(request).data_status()

    @router.post("/strategies", status_code=201, summary="Create a strategy configuration")
    async def create_strategy(
        body: StrategyConfigCreate, request: Request, principal: Principal = Depends(require_scope("trade"))
    ) -> dict[str, Any]:
        engine = _engine(request)
        _checked(engine, body.strategy_type, body.parameters)
        config = StrategyConfig(
            name=body.name,
            strategy_type=body.strategy_type,
            parameters=body.parameters,
            symbols=_symbols(body.symbols),
            timeframe=_timeframe(body.timeframe),
            enabled=body.enabled,
            updated_by=principal.user_id,
        )
        try:
            created = await engine.configs.create(config, engine.now())
        except StrategyConfigExistsError as error:
            raise HTTPException(409, detail=str(error)) from None
        _audit(request, "strategy.create", {"name": body.name, "type": body.strategy_type})
        return _config_dict(created)

    @router.put(
        "/strategies/{name}", summary="Change a configuration's type, parameters, symbols or timeframe"
    )
    async def update_strategy(
        name: str,
        body: StrategyConfigUpdate,
        request: Request,
        principal: Principal = Depends(require_scope("trade")),
    ) -> dict[str, Any]:
        engine = _engine(request)
        current = await _existing(engine, name)
        changes: dict[str, Any] = body.model_dump(exclude_none=True)
        if "symbols" in changes:
            changes["symbols"] = _symbols(changes["symbols"])
        if "timeframe" in changes:
            changes["timeframe"] = _timeframe(changes["timeframe"])
        _checked(
            engine,
            changes.get("strategy_type", current.strategy_type),
            changes.get("parameters", current.parameters),
        )
        updated = await engine.configs.update(name, changes, principal.user_id, engine.now())
        _audit(request, "strategy.update", {"name": name, "changes": sorted(changes)})
        return _config_dict(updated)

    async def _switch(request: Request, name: str, enabled: bool, principal: Principal) -> dict[str, Any]:
        engine = _engine(request)
        current = await _existing(engine, name)
        if enabled:
            # A configuration whose type is gone (user file removed, or refused by the look-ahead check)
            # must not start trading.
            _checked(engine, current.strategy_type, current.parameters)
        updated = await engine.configs.update(name, {"enabled": enabled}, principal.user_id, engine.now())
        _audit(request, "strategy.enable" if enabled else "strategy.disable", {"name": name})
        return _config_dict(updated)

    @router.post("/strategies/{name}/enable", summary="Let a configuration trade")
    async def enable_strategy(
        name: str, request: Request, principal: Principal = Depends(require_scope("trade"))
    ) -> dict[str, Any]:
        return await _switch(request, name, True, principal)

    @router.post("/strategies/{name}/disable", summary="Stop a configuration from trading")
    async def disable_strategy(
        name: str, request: Request, principal: Principal = Depends(require_scope("trade"))
    ) -> dict[str, Any]:
        return await _switch(request, name, False, principal)

    @router.post("/backtest", status_code=202, summary="Start a backtest job on stored bars")
    async def start_backtest(
        body: BacktestRequest, request: Request, _principal: Principal = Depends(require_scope("trade"))
    ) -> JSONResponse:
        engine = _engine(request)
        _checked(engine, body.strategy_type, body.parameters)
        if body.strategy_type == LLM_STRATEGY_TYPE_NAME:
            raise HTTPException(
                422,
                detail="the llm strategy is asked bar by bar, not vectorised: backtest it through the risk "
                "manager with `trader backtest llm --through-risk` (recorded answers are replayed)",
            )
        payload = body.model_dump(mode="json")
        payload["symbols"] = _symbols(body.symbols)
        run = await engine.submit_backtest(payload)
        _audit(request, "backtest.submit", {"id": run["id"], "type": body.strategy_type})
        return JSONResponse(
            {**run, "url": f"/backtests/{run['id']}"},
            status_code=202,
            headers={"Location": f"/backtests/{run['id']}"},
        )

    @router.get("/backtests/{run_id}", summary="A backtest job: status, and metrics once finished")
    async def get_backtest(run_id: str, request: Request) -> dict[str, Any]:
        try:
            run = await _engine(request).backtests.get(run_id)
        except LookupError as error:
            raise HTTPException(404, detail=str(error)) from None
        return run.as_dict()

    @router.get("/signals", summary="Recent signals, newest first")
    async def list_signals(
        request: Request,
        limit: int = Query(100, ge=1, le=1000),
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> list[dict[str, Any]]:
        records = await _engine(request).signals.recent(
            limit=limit, strategy_name=strategy, symbol=symbol.upper() if symbol else None
        )
        return [record.as_dict() for record in records]

    @router.get("/models", summary="The model registry: versions, windows, features, out-of-sample metrics")
    async def list_models(request: Request, name: str | None = None) -> list[dict[str, Any]]:
        return await _engine(request).list_models(name)

    @router.get(
        "/models/{name}/drift", summary="Feature drift (PSI) of recent bars against the training data"
    )
    async def model_drift(
        name: str, request: Request, symbol: str = Query(...), bars: int = Query(250, ge=20, le=5000)
    ) -> dict[str, Any]:
        try:
            return await _engine(request).model_drift(name, symbol.upper(), bars)
        except (ModelUnavailableError, LookupError) as error:
            raise HTTPException(404, detail=str(error)) from None

    @router.get(
        "/llm/usage",
        summary="LLM strategy usage for a day (UTC): per model calls, tokens, cost, budget, refusals",
    )
    async def llm_usage(
        request: Request, day: date | None = Query(None, description="YYYY-MM-DD, default today (UTC)")
    ) -> dict[str, Any]:
        engine = _engine(request)
        if engine.llm is None:
            raise HTTPException(404, detail="no LLM models are configured")
        return await engine.llm.usage(day or datetime.now(UTC).date())

    @router.get("/llm/calls", summary="Recent LLM calls with the signal, risk decision and order each led to")
    async def llm_calls(
        request: Request, limit: int = Query(50, ge=1, le=500), model: str | None = None
    ) -> list[dict[str, Any]]:
        engine = _engine(request)
        if engine.llm is None:
            raise HTTPException(404, detail="no LLM models are configured")
        return [_call_dict(row) for row in await engine.llm.calls.recent(limit=limit, model=model)]

    return router


def _call_dict(row: dict[str, Any]) -> dict[str, Any]:
    """A recorded call as JSON; the prompt itself is left out of the list (its hash identifies it)."""
    return {
        key: (
            value.isoformat()
            if isinstance(value, datetime)
            else str(value)
            if isinstance(value, Decimal)
            else value
        )
        for key, value in row.items()
        if key != "prompt"
    }


async def _existing(engine: StrategyEngine, name: str) -> StrategyConfig:
    try:
        return await engine.configs.get(name)
    except StrategyConfigNotFoundError as error:
        raise HTTPException(404, detail=str(error)) from None


def _config_dict(config: StrategyConfig) -> dict[str, Any]:
    return {
        "name": config.name,
        "strategy_type": config.strategy_type,
        "parameters": config.parameters,
        "symbols": config.symbols,
        "timeframe": config.timeframe,
        "enabled": config.enabled,
        "updated_by": config.updated_by,
        "updated_at": config.updated_at.isoformat() if config.updated_at else None,
    }
