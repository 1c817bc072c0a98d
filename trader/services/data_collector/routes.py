"""HTTP routes of the data collector (thin: parsing and status codes; the work is in handlers)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from trader.core.market import InvalidSymbolError, Timeframe, normalize_symbol
from trader.services.common.security import Principal, require_scope
from trader.services.data_collector.handlers import BadRequestError, DataCollector, UnknownSymbolError
from trader.services.data_collector.schemas import (
    CollectRequest,
    WatchlistChange,
    parse_moment,
    parse_timeframe,
)

router = APIRouter(tags=["data"])
MAX_LIMIT = 10_000


def _collector(request: Request) -> DataCollector:
    collector: DataCollector = request.app.state.collector
    return collector


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=message)


def _symbol(raw: str) -> str:
    try:
        return normalize_symbol(raw)
    except InvalidSymbolError as error:
        raise _unprocessable(str(error)) from None


def _moment(text: str | None, name: str) -> datetime | None:
    try:
        return parse_moment(text, name)
    except ValueError as error:
        raise _unprocessable(str(error)) from None


def _timeframe(text: str | None, default: Timeframe) -> Timeframe:
    if text is None:
        return default
    try:
        return parse_timeframe(text)
    except ValueError as error:
        raise _unprocessable(str(error)) from None


def _provider_status(collector: DataCollector) -> dict[str, Any]:
    router_status = getattr(collector.provider, "status", None)
    providers = (
        router_status() if callable(router_status) else [{"name": collector.provider.name, "role": "primary"}]
    )
    switches = getattr(collector.provider, "switches", [])
    return {
        "active_provider": getattr(collector.provider, "active_provider", collector.provider.name),
        "providers": providers,
        "failovers": [switch.as_dict() for switch in switches],
    }


@router.get("/api/status", summary="Provider quota and rate-limit state, circuit breakers, last errors")
async def api_status(request: Request) -> dict[str, Any]:
    collector = _collector(request)
    collector.refresh_credit_gauges()
    return {"checked_at": collector.clock.now().isoformat(), **_provider_status(collector)}


@router.get("/data/sources/status", summary="Each data source: health, bars received, rejections by reason")
async def sources_status(request: Request) -> dict[str, Any]:
    collector = _collector(request)
    status = _provider_status(collector)
    rejections = collector.rejection_summary()
    for provider in status["providers"]:
        provider["rejected_by_reason"] = rejections.get(str(provider["name"]), {})
    return {
        "checked_at": collector.clock.now().isoformat(),
        "base_timeframe": collector.base_timeframe.value,
        **status,
        "rejected_by_source": rejections,
        "totals": collector.totals.as_dict(),
        "last_ingest_at": collector.last_ingest_at.isoformat() if collector.last_ingest_at else None,
        # Each stream's state and why, its last message, what it delivered and refused.
        "streams": [feed.status()] if (feed := request.app.state.stream_feed) is not None else [],
        # Per timeframe: bars announced, passed over as history, corrected; the last one's age.
        "publishing": collector.publisher.status() if collector.publisher is not None else None,
    }


@router.get("/data/status", summary="Per symbol and timeframe: latest bar, age, count, gaps")
async def data_status(
    request: Request,
    gap_sessions: Annotated[int, Query(ge=0, le=60, description="recent sessions checked for gaps")] = 5,
) -> dict[str, Any]:
    collector = _collector(request)
    series = await collector.data_status(gap_sessions)
    return {
        "checked_at": collector.clock.now().isoformat(),
        "base_timeframe": collector.base_timeframe.value,
        "watchlist": await collector.ensure_watchlist(),
        "series": series,
        "totals": collector.totals.as_dict(),
        "rejected_by_source": collector.rejection_summary(),
    }


@router.get("/data/watchlist", summary="The symbols the collector follows")
async def get_watchlist(request: Request) -> dict[str, Any]:
    return {"symbols": await _collector(request).ensure_watchlist()}


@router.post("/data/watchlist", summary="Add symbols to the watchlist")
async def add_to_watchlist(
    request: Request, body: WatchlistChange, principal: Annotated[Principal, Depends(require_scope("trade"))]
) -> dict[str, Any]:
    collector = _collector(request)
    await collector.ensure_watchlist()
    added = await collector.watchlist.add(body.symbols, added_by=principal.user_id)
    return {"added": added, "symbols": await collector.watchlist.symbols()}


@router.delete("/data/watchlist/{symbol}", summary="Remove a symbol from the watchlist (its bars stay)")
async def remove_from_watchlist(
    request: Request, symbol: str, _principal: Annotated[Principal, Depends(require_scope("trade"))]
) -> dict[str, Any]:
    collector = _collector(request)
    normalized = _symbol(symbol)
    await collector.ensure_watchlist()
    if not await collector.watchlist.remove(normalized):
        raise HTTPException(status_code=404, detail=f"{normalized} is not on the watchlist")
    return {"removed": normalized, "symbols": await collector.watchlist.symbols()}


@router.post("/data/collect", summary="Backfill bars now; long backfills run as a job with progress")
async def collect(
    request: Request, body: CollectRequest, _principal: Annotated[Principal, Depends(require_scope("trade"))]
) -> JSONResponse:
    collector = _collector(request)
    symbols = body.symbols or await collector.ensure_watchlist()
    if not symbols:
        raise _unprocessable("no symbols given and the watchlist is empty")
    timeframe = _timeframe(body.timeframe, collector.base_timeframe)
    if timeframe != collector.base_timeframe:
        raise _unprocessable(
            f"market_data stores {collector.base_timeframe.value} bars; higher timeframes are aggregated "
            f"from them on read, so collect timeframe={collector.base_timeframe.value}"
        )
    default_start, default_end = collector.default_window()
    start = datetime.fromisoformat(body.start) if body.start else default_start
    end = datetime.fromisoformat(body.end) if body.end else default_end
    if start >= end:
        raise _unprocessable(f"start {start.isoformat()} must be before end {end.isoformat()}")
    background = (
        body.background if body.background is not None else collector.should_run_as_job(symbols, start, end)
    )
    if background:
        job = collector.start_job(symbols, start, end, force=body.force)
        return JSONResponse(
            status_code=202,
            content={**job.as_dict(), "progress_url": f"/data/collect/jobs/{job.job_id}"},
        )
    report, per_symbol, errors = await collector.backfill(symbols, start, end, force=body.force)
    content = {
        "status": "completed" if not errors else ("partial" if per_symbol else "failed"),
        "symbols": symbols,
        "timeframe": timeframe.value,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "force": body.force,
        **report.as_dict(),
        "per_symbol": per_symbol,
        "errors": errors,
    }
    if errors and not per_symbol:
        unknown = all("not found" in message or "not in the sample" in message for message in errors.values())
        return JSONResponse(status_code=404 if unknown else 503, content=content)
    return JSONResponse(content=content)


@router.get("/data/collect/jobs/{job_id}", summary="Progress and result of a backfill job")
async def collect_job(request: Request, job_id: str) -> dict[str, Any]:
    job = _collector(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no backfill job {job_id}")
    return job.as_dict()


def _bar_row(bar: Any, feed: str | None) -> dict[str, Any]:
    return {
        "timestamp": bar.timestamp.isoformat(),
        "open": format(bar.open, "f"),
        "high": format(bar.high, "f"),
        "low": format(bar.low, "f"),
        "close": format(bar.close, "f"),
        "volume": format(bar.volume, "f"),
        "adjustment_factor": format(bar.adjustment_factor, "f"),
        "source": bar.source,
        "feed": feed,
    }


@router.get("/data/{symbol}", summary="Bars of one symbol (JSON, or CSV with format=csv / Accept: text/csv)")
async def get_bars(
    request: Request,
    symbol: str,
    timeframe: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 500,
    adjusted: Annotated[bool, Query(description="split/dividend-adjusted (default) or raw prices")] = True,
    output: Annotated[str | None, Query(alias="format", pattern="^(json|csv)$")] = None,
) -> Response:
    collector = _collector(request)
    normalized = _symbol(symbol)
    chosen = _timeframe(timeframe, collector.base_timeframe)
    start_at, end_at = _moment(start, "start"), _moment(end, "end")
    if start_at is not None and end_at is not None and start_at >= end_at:
        raise _unprocessable(f"start {start_at.isoformat()} must be before end {end_at.isoformat()}")
    try:
        bars = await collector.series(
            normalized, chosen, start=start_at, end=end_at, limit=limit, adjusted=adjusted
        )
    except UnknownSymbolError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    except BadRequestError as error:
        raise _unprocessable(str(error)) from None
    rows = [_bar_row(bar, feed) for bar, feed in bars]
    wants_csv = output == "csv" or (output is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["symbol", "timeframe", *_bar_row_fields()])
        writer.writeheader()
        for row in rows:
            writer.writerow({"symbol": normalized, "timeframe": chosen.value, **row})
        return Response(buffer.getvalue(), media_type="text/csv")
    return JSONResponse(
        {
            "symbol": normalized,
            "timeframe": chosen.value,
            "adjusted": adjusted,
            "count": len(rows),
            "bars": rows,
        }
    )


def _bar_row_fields() -> list[str]:
    return ["timestamp", "open", "high", "low", "close", "volume", "adjustment_factor", "source", "feed"]
