"""GET /news (stored articles by symbol and time) and GET /news/status (the news worker)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from trader.adapters.db.stores.news import NewsStore
from trader.core.market import InvalidSymbolError, normalize_symbol
from trader.core.news import NewsItem
from trader.services.data_collector.schemas import parse_moment

router = APIRouter(tags=["news"])


def _article(item: NewsItem) -> dict[str, Any]:
    return {
        "id": item.article_id,
        "headline": item.headline,
        "summary": item.summary,
        "symbols": list(item.symbols),
        "source": item.source,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }


@router.get("/news", summary="Stored news, newest first; each article in its latest stored version")
async def get_news(
    request: Request,
    symbol: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    store: NewsStore = request.app.state.news_store
    try:
        chosen = normalize_symbol(symbol) if symbol is not None else None
        start_at, end_at = parse_moment(start, "start"), parse_moment(end, "end")
    except (InvalidSymbolError, ValueError) as error:
        raise HTTPException(422, detail=str(error)) from None
    if start_at is not None and end_at is not None and start_at >= end_at:
        raise HTTPException(
            422, detail=f"start {start_at.isoformat()} must be before end {end_at.isoformat()}"
        )
    items = await store.latest(symbol=chosen, start=start_at, end=end_at, limit=limit)
    return {"symbol": chosen, "count": len(items), "news": [_article(item) for item in items]}


@router.get("/news/status", summary="The news worker: streamed, stored, rejected by reason, last error")
async def news_status(request: Request) -> dict[str, Any]:
    collector = getattr(request.app.state, "news_collector", None)
    if collector is None:
        return {"enabled": False, "why": "NEWS_ENABLED is off or Alpaca keys are missing"}
    status: dict[str, Any] = collector.status()
    return status
