"""Model cards over HTTP: `GET /models/{name}` (the card: data span, features, folds, IC, DSR, PBO,
costs, shadow and live results, every step and why) and `GET /models/desk` (the desk's sessions
and failures). Reads are open, like the rest of the registry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from trader.ml.model_card import model_card
from trader.services.common.resources import Resources
from trader.services.strategy_engine.ranking import RankingDeskRunner


def build_model_router() -> APIRouter:
    router = APIRouter(tags=["models"])

    @router.get("/models/desk", summary="The model desk: last session run per ranking strategy, failures")
    async def desk_status(request: Request) -> dict[str, Any]:
        runner: RankingDeskRunner = request.app.state.ranking_desk
        return runner.status()

    @router.get(
        "/models/{name}", summary="A model's card: figures, costs, gate, shadow and live results, steps"
    )
    async def card(name: str, request: Request, version: int | None = Query(None, ge=1)) -> dict[str, Any]:
        resources: Resources = request.app.state.resources
        try:
            return await model_card(resources.engine, name, version)
        except LookupError as error:
            raise HTTPException(404, detail=str(error).strip("'\"")) from None

    return router
