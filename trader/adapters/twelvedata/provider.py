"""Twelve Data as a `MarketDataProvider`, through the official `twelvedata` SDK (TDClient).

The SDK is used as shipped (it is synchronous, so calls run in a worker thread); two things are
set around it: a transport timeout (the SDK hard-codes 30 s) and a credit limiter, spent before
each request, so the plan's credits per minute are never exceeded by this process. The
credits-exhausted error arrives as HTTP 429 or inside an HTTP 200 body; the SDK raises a plain
`TwelveDataError` for both, recognised here by its message.

Formats (from Twelve Data's OpenAPI spec and the SDK): numbers come as strings; intraday
`datetime` is "YYYY-MM-DD HH:MM:SS" in the exchange's time zone, daily is "YYYY-MM-DD";
`start_date`/`end_date` are read in the `timezone` asked for (the SDK sends "Exchange").

Corporate actions: `/time_series` takes `adjust` = all | splits | dividends | none, and its default is
`splits` (the spec's AdjustEnum), so a request without it returns split-ADJUSTED prices. Raw bars are
therefore asked for with `adjust=none`, and a second request for the same range with the adjustment
wanted (`all` by default, see `AdjustmentKind`) gives each bar its factor. Both requests spend a
credit per page and both go through the limiter. If the second one fails, the raw bars are returned
with factor 1 and the batch is flagged (`adjustment_stats`, a warning in the log).
"""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import requests
from twelvedata import TDClient
from twelvedata.exceptions import BadRequestError, InternalServerError, InvalidApiKeyError, TwelveDataError
from twelvedata.utils import patch_endpoints_meta

from trader.adapters.http_timeouts import apply_timeout
from trader.adapters.marketdata.adjusted import AdjustmentStats, with_factors_or_raw
from trader.adapters.marketdata.credits import CreditLimiter
from trader.adapters.marketdata.errors import (
    CreditsExhaustedError,
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    SymbolNotFoundError,
    transport_error,
)
from trader.core.adjustments import AdjustmentKind
from trader.core.market import Timeframe
from trader.core.ports import FetchedBars
from trader.core.sessions import MarketCalendar
from trader.core.validation import BarCandidate

PROVIDER = "twelvedata"
DEFAULT_BASE_URL = "https://api.twelvedata.com"
EXCHANGE_ZONE = ZoneInfo("America/New_York")
MAX_OUTPUTSIZE = 5000
INTERVALS = {
    Timeframe.MINUTE1: "1min",
    Timeframe.MINUTE5: "5min",
    Timeframe.MINUTE15: "15min",
    Timeframe.MINUTE30: "30min",
    Timeframe.HOUR1: "1h",
    Timeframe.DAY1: "1day",
}
RAW = "none"
_CREDITS_USED = re.compile(r"(\d+) API credits were used")


def _number(raw: object) -> Decimal:
    """A value as sent; anything unreadable becomes NaN for the validator to reject with a reason."""
    if raw is None or isinstance(raw, bool):
        return Decimal("NaN")
    try:
        return Decimal(str(raw).strip())
    except InvalidOperation:
        return Decimal("NaN")


def _local_text(moment: datetime) -> str:
    return moment.astimezone(EXCHANGE_ZONE).strftime("%Y-%m-%d %H:%M:%S")


class TwelveDataProvider:
    """Raw bars with adjustment factors from Twelve Data; one credit per request (`x-api-credits-cost`
    of /time_series), two requests per page of bars (raw, then adjusted)."""

    def __init__(
        self,
        api_key: str,
        calendar: MarketCalendar,
        limiter: CreditLimiter,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_seconds: float = 10.0,
        adjustment: AdjustmentKind = AdjustmentKind.ALL,
    ) -> None:
        self._api_key = api_key
        self._adjustment = adjustment
        self.adjustment_stats = AdjustmentStats()
        self._calendar = calendar
        self._limiter = limiter
        self._base_url = base_url.rstrip("/")
        self._timeout_seconds = timeout_seconds
        self._client: TDClient | None = None
        self._client_lock = threading.Lock()

    @property
    def name(self) -> str:
        return PROVIDER

    @property
    def limiter(self) -> CreditLimiter:
        return self._limiter

    def _make_client(self) -> TDClient:
        # The constructor itself calls GET /technical_indicators (one credit), hence the lazy build.
        with self._client_lock:
            if self._client is None:
                from twelvedata.http_client import DefaultHttpClient

                http_client = DefaultHttpClient(self._base_url)
                apply_timeout(http_client.session, self._timeout_seconds)
                self._client = TDClient(
                    apikey=self._api_key, http_client=http_client, base_url=self._base_url
                )
            return self._client

    def _translate(self, error: Exception, symbol: str) -> ProviderError | None:
        """The SDK's exception as ours; None for "no data in that window" (an empty answer)."""
        message = str(error)
        transport = transport_error(PROVIDER, error, self._timeout_seconds)
        if transport is not None:
            return transport
        if "API credits" in message or "run out of" in message:
            used = _CREDITS_USED.search(message)
            retry_at = self._limiter.note_exhausted(int(used.group(1)) if used else None)
            return CreditsExhaustedError(PROVIDER, "credits exhausted for the current minute", retry_at)
        if isinstance(error, InvalidApiKeyError):
            return ProviderAuthError(PROVIDER, f"API key refused: {message}")
        if isinstance(error, BadRequestError) and "No data is available" in message:
            return None
        if "not found" in message.lower():
            return SymbolNotFoundError(PROVIDER, f"symbol {symbol} not found")
        if "permission" in message.lower() or "lacks" in message.lower():
            return ProviderAuthError(PROVIDER, message)
        if isinstance(error, InternalServerError):
            return ProviderUnavailableError(PROVIDER, f"server error: {message[:200]}")
        if isinstance(error, BadRequestError):
            return MalformedResponseError(PROVIDER, f"request refused: {message[:200]}")
        if isinstance(error, ValueError):  # the SDK could not decode the body
            return MalformedResponseError(PROVIDER, f"unreadable answer: {message[:200]}")
        return ProviderUnavailableError(PROVIDER, message[:200])

    def _request(self, symbol: str, interval: str, start: datetime, end: datetime, adjust: str) -> Any:
        client = self._make_client()
        series = client.time_series(
            symbol=symbol,
            interval=interval,
            start_date=_local_text(start),
            end_date=_local_text(end),
            outputsize=MAX_OUTPUTSIZE,
            order="asc",
            timezone="Exchange",
            adjust=adjust,
        )
        return series.as_json()

    async def _call(
        self, symbol: str, interval: str, start: datetime, end: datetime, adjust: str
    ) -> list[Any]:
        # The SDK's first client in a process also calls /technical_indicators (one credit) to patch
        # its endpoint classes; later clients skip it.
        constructor_pays = self._client is None and not hasattr(patch_endpoints_meta, "patched")
        cost = 2 if constructor_pays else 1
        await self._limiter.acquire(cost)
        try:
            rows = await asyncio.to_thread(self._request, symbol, interval, start, end, adjust)
        except (TwelveDataError, requests.RequestException, ValueError) as error:
            translated = self._translate(error, symbol)
            if translated is None:
                return []
            raise translated from error
        if isinstance(rows, dict) and rows.get("status") == "error":
            translated = self._translate(TwelveDataError(str(rows.get("message", rows))), symbol)
            if translated is None:
                return []
            raise translated
        if not isinstance(rows, list | tuple):
            raise MalformedResponseError(PROVIDER, f"expected a list of bars, got {type(rows).__name__}")
        return list(rows)

    def _timestamp(self, text: object, timeframe: Timeframe) -> datetime:
        if not isinstance(text, str):
            raise MalformedResponseError(PROVIDER, f"bar without a datetime: {text!r}")
        try:
            if not timeframe.is_intraday:
                day = date.fromisoformat(text[:10])
                session = self._calendar.session_for(day)
                # A date without a session keeps UTC midnight: the validator reports it as OUTSIDE_SESSION.
                return session.open_at if session else datetime(day.year, day.month, day.day, tzinfo=UTC)
            local = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - exchange time, zoned next
        except ValueError:
            raise MalformedResponseError(PROVIDER, f"unreadable datetime {text!r}") from None
        return local.replace(tzinfo=EXCHANGE_ZONE).astimezone(UTC)

    def _candidates(self, symbol: str, timeframe: Timeframe, rows: list[Any]) -> list[BarCandidate]:
        result = []
        for row in rows:
            if not isinstance(row, dict):
                raise MalformedResponseError(PROVIDER, f"a bar is not an object: {row!r}")
            result.append(
                BarCandidate(
                    symbol=symbol,
                    timeframe=timeframe,
                    timestamp=self._timestamp(row.get("datetime"), timeframe),
                    open=_number(row.get("open")),
                    high=_number(row.get("high")),
                    low=_number(row.get("low")),
                    close=_number(row.get("close")),
                    volume=_number(row.get("volume")),
                    source=PROVIDER,
                )
            )
        return result

    async def _series(
        self, symbol: str, timeframe: Timeframe, interval: str, start: datetime, end: datetime, adjust: str
    ) -> list[BarCandidate]:
        candidates: list[BarCandidate] = []
        window_start = start
        while window_start < end:
            rows = await self._call(symbol, interval, window_start, end, adjust)
            page = self._candidates(symbol, timeframe, rows)
            candidates.extend(page)
            if len(rows) < MAX_OUTPUTSIZE or not page:
                break
            # A full page: ask again from just after its newest bar.
            window_start = max(candidate.timestamp for candidate in page) + timedelta(seconds=1)
        return candidates

    async def fetch_bars(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> FetchedBars:
        interval = INTERVALS.get(timeframe)
        if interval is None:
            raise ValueError(f"Twelve Data serves no {timeframe.value} bars")
        raw = await self._series(symbol, timeframe, interval, start, end, RAW)
        if not raw:
            return FetchedBars(PROVIDER, ())
        adjusted: list[BarCandidate] | None = None
        problem: str | None = None
        try:
            adjusted = await self._series(symbol, timeframe, interval, start, end, self._adjustment.value)
        except ProviderError as error:
            problem = f"adjust={self._adjustment.value} request failed: {error}"
        candidates, current = with_factors_or_raw(
            PROVIDER, symbol, raw, adjusted, problem, self.adjustment_stats
        )
        return FetchedBars(PROVIDER, tuple(candidates), factors_current=current)
