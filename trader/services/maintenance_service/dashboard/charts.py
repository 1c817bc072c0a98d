"""A symbol's chart: bars from the data collector (the one owner of bars and their aggregation),
the strategy's indicator lines over them, and what the system did at each bar from the stores.

Bad input is a 4xx with the reason: a malformed symbol or unknown timeframe 422, a symbol the
collector has no bars of or an unknown strategy 404; an unreachable collector is a 502.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from fastapi import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.strategies import (
    StrategyConfig,
    StrategyConfigNotFoundError,
    StrategyConfigStore,
)
from trader.charts.payload import chart_payload
from trader.core.market import InvalidSymbolError, Timeframe, normalize_symbol
from trader.core.strategies.base import Strategy
from trader.core.strategies.catalog import InvalidParametersError, UnknownStrategyTypeError, built_in_catalog
from trader.core.strategies.overlays import Overlay, overlays_of
from trader.core.strategies.series import BarSeries
from trader.services.maintenance_service.dashboard.markers import symbol_activity
from trader.settings import Settings

MAX_CHART_BARS = 5000
MAX_COLLECTOR_BARS = 10_000  # the collector's page limit


@dataclass(frozen=True, slots=True)
class ChartRequest:
    symbol: str
    timeframe: Timeframe
    limit: int
    strategy: str | None

    @classmethod
    def parse(cls, symbol: str, timeframe: str, limit: int, strategy: str | None) -> ChartRequest:
        try:
            wanted_symbol = normalize_symbol(symbol)
            wanted_timeframe = Timeframe.parse(timeframe)
        except (InvalidSymbolError, ValueError) as error:
            raise HTTPException(422, detail=str(error)) from None
        return cls(wanted_symbol, wanted_timeframe, limit, strategy or None)


async def fetch_bars(
    http: httpx.AsyncClient, settings: Settings, request: ChartRequest, *, warm_up: int
) -> BarSeries | None:
    """The collector's bars as traded (unadjusted, so fills sit on their bars), with `warm_up`
    bars more before them for the indicators; None when there are none."""
    url = f"{settings.url_of('data_collector')}/data/{request.symbol}"
    wanted = min(request.limit + warm_up, MAX_COLLECTOR_BARS)
    params = {"timeframe": request.timeframe.value, "limit": str(wanted), "adjusted": "false"}
    try:
        response = await http.get(url, params=params, timeout=settings.health_timeout_seconds * 4)
    except httpx.HTTPError as error:
        raise HTTPException(
            502, detail=f"data collector unreachable at {url}: {type(error).__name__}"
        ) from None
    if response.status_code in (404, 422):
        raise HTTPException(response.status_code, detail=_detail(response))
    if not response.is_success:
        raise HTTPException(
            502, detail=f"data collector answered HTTP {response.status_code}: {_detail(response)}"
        )
    rows = response.json().get("bars", [])
    if not rows:
        return None
    return BarSeries.from_decimal_columns(
        request.symbol,
        [datetime.fromisoformat(row["timestamp"]) for row in rows],
        *([Decimal(row[name]) for row in rows] for name in ("open", "high", "low", "close", "volume")),
        factors=None,
    )


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = (
        body.get("detail") or body.get("message") or body.get("error") if isinstance(body, dict) else None
    )
    return str(detail or body)[:300]


async def _strategy_config(engine: AsyncEngine, request: ChartRequest) -> StrategyConfig | None:
    store = StrategyConfigStore(engine)
    if request.strategy is not None:
        try:
            return await store.get(request.strategy)
        except StrategyConfigNotFoundError as error:
            raise HTTPException(404, detail=str(error)) from None
    trading = [config for config in await store.list(enabled_only=True) if request.symbol in config.symbols]
    return trading[0] if trading else None


def _strategy(config: StrategyConfig | None) -> tuple[Strategy | None, str | None]:
    """The configuration's strategy, or none with the reason (a user's or a model type draws
    nothing here: only built-in types declare their lines)."""
    if config is None:
        return None, "no strategy trades this symbol: no indicators to draw"
    try:
        return built_in_catalog().build(config.strategy_type, config.parameters), None
    except (UnknownStrategyTypeError, InvalidParametersError) as error:
        return None, f"indicators of {config.strategy_type!r} are not drawn: {error}"


async def symbol_chart(
    engine: AsyncEngine, http: httpx.AsyncClient, settings: Settings, request: ChartRequest
) -> dict[str, Any]:
    config = await _strategy_config(engine, request)
    strategy, note = _strategy(config)
    warm_up = strategy.lookback_bars if strategy is not None else 0
    fetched = await fetch_bars(http, settings, request, warm_up=warm_up)
    base: dict[str, Any] = {
        "symbol": request.symbol,
        "timeframe": request.timeframe.value,
        "strategy": None if config is None else config.name,
        "strategy_type": None if config is None else config.strategy_type,
    }
    if fetched is None:
        return {**base, "bars": [], "overlays": [], "markers": [], "levels": [], "note": "no bars stored yet"}
    overlays: list[Overlay] = []
    if strategy is not None:
        overlays = overlays_of(strategy, fetched)
        note = None if overlays else f"{config.strategy_type if config else ''} declares no indicator lines"
    series = fetched.tail(request.limit)
    shown = [_tail(overlay, len(series)) for overlay in overlays]
    start = datetime.fromtimestamp(int(series.timestamps_ns[0]) / 1e9, tz=UTC)
    end = datetime.fromtimestamp(int(series.timestamps_ns[-1]) / 1e9, tz=UTC) + request.timeframe.duration
    activity = await symbol_activity(engine, request.symbol, start=start, end=end, strategy=base["strategy"])
    payload = chart_payload(
        symbol=request.symbol,
        timeframe=request.timeframe.value,
        bar_length=request.timeframe.duration,
        series=series,
        overlays=shown,
        markers=activity.markers,
        levels=activity.levels,
    )
    return {**base, **payload, "note": note}


def _tail(overlay: Overlay, count: int) -> Overlay:
    return replace(overlay, values=overlay.values[-count:])
