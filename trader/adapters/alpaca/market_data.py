"""Alpaca market data as a `MarketDataProvider`, through alpaca-py's `StockHistoricalDataClient`.

Used as the backup provider. The feed (iex, the free one, or sip) is recorded with every batch,
so each stored bar says where it came from. alpaca-py retries a 429 three times with 3 s sleeps
inside the call; that is switched off (the router fails over instead of blocking a thread), and
a transport timeout is set because the SDK sends none.

Corporate actions: the bars endpoints take `adjustment` = raw | split | dividend | all (alpaca-py's
`StockBarsRequest.adjustment`). Raw bars are asked for explicitly (`raw`), then the same range again
adjusted (`all` by default, see `AdjustmentKind`); adjusted close / raw close is each bar's factor.
If the adjusted call fails, the raw bars are returned with factor 1 and the batch is flagged
(`adjustment_stats`, a warning in the log).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from pydantic import ValidationError

from trader.adapters.http_timeouts import apply_timeout
from trader.adapters.marketdata.adjusted import AdjustmentStats, with_factors_or_raw
from trader.adapters.marketdata.errors import (
    CreditsExhaustedError,
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    transport_error,
)
from trader.core.adjustments import AdjustmentKind
from trader.core.market import Timeframe
from trader.core.ports import Clock, FetchedBars
from trader.core.sessions import MarketCalendar
from trader.core.validation import BarCandidate

PROVIDER = "alpaca"
NEW_YORK = ZoneInfo("America/New_York")
# Alpaca's free plan allows 200 requests a minute; a 429 means wait for the next minute.
RATE_LIMIT_WAIT = timedelta(minutes=1)
TIMEFRAMES = {
    Timeframe.MINUTE1: TimeFrame(1, TimeFrameUnit.Minute),
    Timeframe.MINUTE5: TimeFrame(5, TimeFrameUnit.Minute),
    Timeframe.MINUTE15: TimeFrame(15, TimeFrameUnit.Minute),
    Timeframe.MINUTE30: TimeFrame(30, TimeFrameUnit.Minute),
    Timeframe.HOUR1: TimeFrame(1, TimeFrameUnit.Hour),
    Timeframe.DAY1: TimeFrame(1, TimeFrameUnit.Day),
}
ADJUSTMENTS = {AdjustmentKind.SPLITS: Adjustment.SPLIT, AdjustmentKind.ALL: Adjustment.ALL}
_SDK_ERRORS = (APIError, requests.RequestException, ValidationError, LookupError, TypeError, ValueError)


def _number(value: Any) -> Decimal:
    if value is None:
        return Decimal("NaN")
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


class AlpacaMarketDataProvider:
    def __init__(
        self,
        api_key: str,
        secret_key: str,
        calendar: MarketCalendar,
        clock: Clock,
        *,
        feed: str = "iex",
        url_override: str | None = None,
        timeout_seconds: float = 10.0,
        adjustment: AdjustmentKind = AdjustmentKind.ALL,
    ) -> None:
        self._feed = DataFeed(feed.lower())
        self._adjustment = ADJUSTMENTS[adjustment]
        self.adjustment_stats = AdjustmentStats()
        self._calendar = calendar
        self._clock = clock
        self._timeout_seconds = timeout_seconds
        self._client = StockHistoricalDataClient(api_key, secret_key, url_override=url_override or None)
        self._client._retry = 0
        apply_timeout(self._client._session, timeout_seconds)

    @property
    def name(self) -> str:
        return PROVIDER

    @property
    def feed(self) -> str:
        return self._feed.value

    def _translate(self, error: Exception) -> ProviderError:
        transport = transport_error(PROVIDER, error, self._timeout_seconds)
        if transport is not None:
            return transport
        if isinstance(error, APIError):
            status = error.status_code
            text = str(error)[:200]
            if status in (401, 403):
                return ProviderAuthError(PROVIDER, f"HTTP {status}: {text}")
            if status == 429:
                return CreditsExhaustedError(
                    PROVIDER, f"rate limit reached: {text}", self._clock.now() + RATE_LIMIT_WAIT
                )
            if status is not None and status >= 500:
                return ProviderUnavailableError(PROVIDER, f"HTTP {status}: {text}")
            return MalformedResponseError(PROVIDER, f"HTTP {status}: {text}")
        text = str(error)[:200]
        return MalformedResponseError(PROVIDER, f"unreadable answer: {type(error).__name__}: {text}")

    def _request(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime, adjustment: Adjustment
    ) -> Any:
        request = StockBarsRequest(
            symbol_or_symbols=symbol,
            timeframe=TIMEFRAMES[timeframe],
            start=start,
            # Alpaca's end is inclusive and its stamps are whole seconds.
            end=end - timedelta(seconds=1),
            feed=self._feed,
            adjustment=adjustment,
        )
        return self._client.get_stock_bars(request)

    def _timestamp(self, moment: datetime, timeframe: Timeframe) -> datetime:
        stamped = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        if timeframe.is_intraday:
            return stamped.astimezone(UTC)
        # Daily bars are stamped at midnight New York; ours start at the session open.
        day = stamped.astimezone(NEW_YORK).date()
        session = self._calendar.session_for(day)
        return session.open_at if session else datetime(day.year, day.month, day.day, tzinfo=UTC)

    async def _series(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime, adjustment: Adjustment
    ) -> list[BarCandidate]:
        try:
            barset = await asyncio.to_thread(self._request, symbol, timeframe, start, end, adjustment)
        except _SDK_ERRORS as error:
            raise self._translate(error) from error
        rows = barset.data.get(symbol, []) if hasattr(barset, "data") else []
        return [
            BarCandidate(
                symbol=symbol,
                timeframe=timeframe,
                timestamp=self._timestamp(row.timestamp, timeframe),
                open=_number(row.open),
                high=_number(row.high),
                low=_number(row.low),
                close=_number(row.close),
                volume=_number(row.volume),
                source=PROVIDER,
            )
            for row in rows
        ]

    async def fetch_bars(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> FetchedBars:
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"Alpaca serves no {timeframe.value} bars")
        raw = await self._series(symbol, timeframe, start, end, Adjustment.RAW)
        adjusted: list[BarCandidate] | None = None
        problem: str | None = None
        if raw:
            try:
                adjusted = await self._series(symbol, timeframe, start, end, self._adjustment)
            except ProviderError as error:
                problem = f"adjustment={self._adjustment.value} request failed: {error}"
        candidates, current = with_factors_or_raw(
            PROVIDER, symbol, raw, adjusted, problem, self.adjustment_stats
        )
        return FetchedBars(PROVIDER, tuple(candidates), feed=self._feed.value, factors_current=current)
