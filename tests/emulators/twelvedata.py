"""Local emulator of the Twelve Data REST API, for driving the official `twelvedata` SDK over loopback.

Covers: `/time_series` (one symbol or the comma-separated batch form the SDK sends for several symbols,
interval, outputsize, start_date/end_date/date, timezone, order, dp), `/quote`, `/price`,
`/technical_indicators` (the SDK's constructor asks for it), `/api_usage`; the API key (query `apikey`
or header `Authorization: apikey <key>`); per-minute credit accounting with a settable minute clock;
fault injection (credits exhausted as HTTP 429 or as an HTTP 200 body, 401, 5xx, delays, rows out of
order; `errors_as_http_200=True` sends every error body with HTTP 200) and malformed values (seed any
string, e.g. "NaN", "" or a high below the low). With `serve_forming_bar = True`, `/time_series` answers
as of the emulator's `now`, as the live API does: the bar still forming is served with partial values
(our choice of partial values: those of its first half), later bars not at all.

Corporate actions: `seed_split(symbol, on_date, ratio)` and `seed_dividend(symbol, ex_date, amount)`;
`/time_series` then honours `adjust` (all | splits | dividends | none, default splits as in the spec's
AdjustEnum): seeded bars are the raw prices, and bars dated before an action are served adjusted.

Use: `emulator.seed_bars("AAPL", "1min", rows)`, serve `emulator.app` with `EmulatorServer`, then
`TDClient(apikey=emulator.api_key, base_url=server.base_url)`. `advance_minute()` renews the credits;
`exhaust_credits_next(http_status=200)`, `inject(Fault(...))`, `serve_out_of_order_next()`,
`refuse_adjusted_next()` break things;
`requests` lists what the SDK sent.

Where the formats come from:
- Twelve Data's OpenAPI spec (`/work/shared/reference/twelvedata_openapi_original.json`): response shapes
  of time_series (meta + values, numbers as strings), quote, price, technical_indicators, api_usage;
  the error body `{"code", "message", "status": "error"}` and the example messages for 400/401/404/429/500;
  `x-api-credits-cost` (1 for each endpoint served here) and `x-api-credits-type` (`symbol`: a batch
  costs one credit per symbol; `request`: one per call); "datetime at local exchange time", the
  `timezone` parameter (ignored for 1day and longer), start/end dates read in that time zone,
  outputsize default 30 without dates and the maximum (5000) with them, order default desc.
- The `twelvedata` SDK sources: what it sends (`format=JSON`, `dp=5`, `timezone=Exchange`,
  `order=desc`, `outputsize=30`, `source=python`, comma-joined symbols for a batch) and that it looks
  at an `Is_batch: true` header on batch answers.
- From memory of the live API, not from the spec (named here so nobody mistakes them for sourced):
  daily bars dated "YYYY-MM-DD" and intraday ones "YYYY-MM-DD HH:MM:SS"; `end_date` exclusive;
  the "No data is available on the specified dates..." (400) and "**symbol** not found: ..." (404)
  messages; the credits message tail after the sentence the spec gives.
- How an adjusted series is computed (the spec gives only the parameter, its values and default): the
  usual backward adjustment. A split of `ratio` new shares per old divides earlier prices by the ratio
  and multiplies earlier volumes by it; a cash dividend multiplies earlier prices by
  1 - amount / (the last raw close before the ex-date in the series served), volumes unchanged.
  Adjusted prices are rounded to 8 decimals before `dp` applies. Seeded strings (malformed values)
  are served verbatim in every mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.faults import Fault, FaultableEmulator

EXCHANGE_TIMEZONE = "America/New_York"
INTERVALS: dict[str, timedelta] = {
    "1min": timedelta(minutes=1),
    "5min": timedelta(minutes=5),
    "15min": timedelta(minutes=15),
    "30min": timedelta(minutes=30),
    "45min": timedelta(minutes=45),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "4h": timedelta(hours=4),
    "8h": timedelta(hours=8),
    "1day": timedelta(days=1),
    "1week": timedelta(weeks=1),
    "1month": timedelta(days=31),
}
DAILY_OR_LONGER = frozenset({"1day", "1week", "1month"})
ADJUST_MODES = ("all", "splits", "dividends", "none")
DEFAULT_ADJUST = "splits"
ADJUSTED_QUANTUM = Decimal("1e-8")
# (x-api-credits-cost, x-api-credits-type) from the spec, for the paths served here.
CREDIT_COSTS: dict[str, tuple[int, str]] = {
    "/time_series": (1, "symbol"),
    "/quote": (1, "symbol"),
    "/price": (1, "symbol"),
    "/technical_indicators": (1, "request"),
    "/api_usage": (1, "request"),
}
MAX_OUTPUTSIZE = 5000
INVALID_API_KEY_MESSAGE = "apikey parameter is incorrect or not specified"
NO_DATA_MESSAGE = "No data is available on the specified dates. Try setting different start/end dates."


def credits_exhausted_message(used: int, limit: int) -> str:
    return (
        f"You have run out of API credits for the current minute. {used} API credits were used, "
        f"with the current limit being {limit}. Wait for the next minute or consider upgrading your plan "
        "at https://twelvedata.com/pricing"
    )


def symbol_not_found_message(symbol: str) -> str:
    return f"**symbol** not found: {symbol}. Please specify it correctly according to API Documentation."


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "status": "error"}


@dataclass(frozen=True, slots=True)
class SeedBar:
    """One bar as the test wants it served. Prices may be strings to serve malformed values verbatim."""

    opened_at: datetime
    open: Decimal | str
    high: Decimal | str
    low: Decimal | str
    close: Decimal | str
    volume: int | str | None = None

    def __post_init__(self) -> None:
        if self.opened_at.tzinfo is None:
            raise ValueError("opened_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Split:
    """`ratio` new shares per old (2 for 2:1, 0.1 for 1:10), effective at the session of `on_date`."""

    on_date: date
    ratio: Decimal


@dataclass(frozen=True, slots=True)
class Dividend:
    ex_date: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    name: str
    exchange: str = "NASDAQ"
    mic_code: str = "XNAS"
    currency: str = "USD"
    type: str = "Common Stock"


TECHNICAL_INDICATORS: dict[str, Any] = {
    "sma": {
        "enable": True,
        "full_name": "Simple Moving Average",
        "description": "Simple Moving Average(SMA) is an arithmetic moving average calculated by adding the "
        "latest closing prices and then dividing them by the number of time periods.",
        "type": "Overlap Studies",
        "overlay": True,
        "output_values": {"sma": {"default_color": "#FF0000", "display": "line"}},
        "parameters": {
            "series_type": {
                "default": "close",
                "range": ["open", "high", "low", "close"],
                "type": "string",
            },
            "time_period": {"default": 9, "min_range": 1, "max_range": 800, "type": "int"},
        },
        "tinting": {},
    },
    "rsi": {
        "enable": True,
        "full_name": "Relative Strength Index",
        "description": "Relative Strength Index(RSI) is a momentum indicator, which calculates the magnitude "
        "of price changes to assess the overbought and oversold conditions in the price.",
        "type": "Momentum Indicators",
        "overlay": False,
        "output_values": {
            "rsi": {"default_color": "#FF0000", "display": "line", "min_range": 0, "max_range": 100}
        },
        "parameters": {"time_period": {"default": 14, "min_range": 1, "max_range": 800, "type": "int"}},
        "tinting": {
            "display": "fill",
            "color": "#FF0000",
            "transparency": 0.5,
            "lower_bound": "30",
            "upper_bound": "70",
        },
    },
    "macd": {
        "enable": True,
        "full_name": "Moving Average Convergence Divergence",
        "description": "Moving Average Convergence Divergence(MACD) is a trend following momentum indicator.",
        "type": "Momentum Indicators",
        "overlay": False,
        "output_values": {
            "macd": {"default_color": "#FF0000", "display": "line"},
            "macd_signal": {"default_color": "#0000FF", "display": "line"},
            "macd_hist": {"default_color": "#00FF00", "display": "histogram"},
        },
        "parameters": {
            "fast_period": {"default": 12, "min_range": 1, "max_range": 800, "type": "int"},
            "slow_period": {"default": 26, "min_range": 1, "max_range": 800, "type": "int"},
            "signal_period": {"default": 9, "min_range": 1, "max_range": 800, "type": "int"},
        },
        "tinting": {},
    },
}


@dataclass
class _State:
    instruments: dict[str, Instrument] = field(default_factory=dict)
    bars: dict[tuple[str, str], dict[datetime, SeedBar]] = field(default_factory=dict)
    credits_by_minute: dict[datetime, int] = field(default_factory=dict)
    credits_total: int = 0
    out_of_order_remaining: int = 0
    splits: dict[str, list[Split]] = field(default_factory=dict)
    dividends: dict[str, list[Dividend]] = field(default_factory=dict)
    adjusted_refusals: list[int] = field(default_factory=list)


class TwelveDataEmulator(FaultableEmulator):
    """In-memory Twelve Data. Build once per test, serve `app` with `EmulatorServer`, drive the SDK."""

    def __init__(
        self,
        api_key: str = "test-twelve-data-key",
        *,
        credits_per_minute: int = 8,
        credits_per_day: int = 800,
        plan_category: str = "basic",
        credits_exhausted_http_status: int = 429,
        errors_as_http_200: bool = False,
        now: datetime = datetime(2024, 1, 2, 15, 0, tzinfo=UTC),
    ) -> None:
        super().__init__(now)
        self.api_key = api_key
        self.credits_per_minute = credits_per_minute
        self.credits_per_day = credits_per_day
        self.plan_category = plan_category
        self.credits_exhausted_http_status = credits_exhausted_http_status
        # Twelve Data has been seen sending error bodies with HTTP 200; this serves every error that way.
        self.errors_as_http_200 = errors_as_http_200
        # As the real time_series does: the bar whose interval contains `now` is served as it stands
        # (partial values), bars starting after `now` not at all. Off by default: seeded data as is.
        self.serve_forming_bar = False
        self._state = _State()
        routes = [
            Route("/time_series", self._time_series),
            Route("/quote", self._quote),
            Route("/price", self._price),
            Route("/technical_indicators", self._technical_indicators),
            Route("/api_usage", self._api_usage),
        ]
        self._serve(routes, self._default_error_body)

    # ------------------------------------------------------------------ test controls

    def add_instrument(self, instrument: Instrument) -> None:
        with self._lock:
            self._state.instruments[instrument.symbol.upper()] = instrument

    def seed_bars(self, symbol: str, interval: str, rows: Iterable[SeedBar]) -> None:
        """Add (or replace, by open time) bars; the symbol is registered as a NASDAQ stock if unknown."""
        if interval not in INTERVALS:
            raise ValueError(f"unknown interval {interval!r}; use one of {', '.join(INTERVALS)}")
        key = (symbol.upper(), interval)
        with self._lock:
            self._state.instruments.setdefault(symbol.upper(), Instrument(symbol.upper(), symbol.upper()))
            series = self._state.bars.setdefault(key, {})
            for row in rows:
                series[row.opened_at.astimezone(UTC)] = row

    def seed_split(self, symbol: str, on_date: date, ratio: Decimal | int) -> None:
        """A split effective at the session of `on_date` (New York date): earlier bars serve adjusted."""
        split = Split(on_date, Decimal(ratio))
        if split.ratio <= 0:
            raise ValueError(f"a split ratio must be positive, got {ratio}")
        with self._lock:
            self._state.splits.setdefault(symbol.upper(), []).append(split)

    def seed_dividend(self, symbol: str, ex_date: date, amount: Decimal) -> None:
        """A cash dividend going ex at the session of `ex_date` (New York date)."""
        if amount <= 0:
            raise ValueError(f"a dividend must be positive, got {amount}")
        with self._lock:
            self._state.dividends.setdefault(symbol.upper(), []).append(Dividend(ex_date, amount))

    def advance_minute(self, minutes: int = 1) -> None:
        """Move the credit clock on, so the per-minute allowance is fresh without waiting."""
        with self._lock:
            self._now += timedelta(minutes=minutes)

    @property
    def credits_used_this_minute(self) -> int:
        with self._lock:
            return self._state.credits_by_minute.get(_minute_of(self._now), 0)

    @property
    def credits_used_total(self) -> int:
        with self._lock:
            return self._state.credits_total

    def exhaust_credits_next(
        self, *, http_status: int = 429, path: str | None = None, times: int = 1
    ) -> None:
        """Answer the next request(s) with the credits-exhausted error, as HTTP 429 or inside an HTTP 200."""
        limit = self.credits_per_minute
        body = error_body(429, credits_exhausted_message(limit + 1, limit))
        self.faults.add(Fault(status=http_status, body=body, path=path, times=times))

    def refuse_adjusted_next(self, *, http_status: int = 429, times: int = 1) -> None:
        """The next time series request(s) asking for adjusted prices (`adjust` other than none) fail:
        429 as credits exhausted, any other status with its usual error body. Raw requests are served."""
        with self._lock:
            self._state.adjusted_refusals.extend([http_status] * times)

    def serve_out_of_order_next(self, times: int = 1) -> None:
        """The next time series answer(s) swap their first two rows (a broken sort, never a valid one)."""
        with self._lock:
            self._state.out_of_order_remaining += times

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _default_error_body(status: int) -> dict[str, Any]:
        messages = {
            400: "Invalid request",
            401: INVALID_API_KEY_MESSAGE,
            403: "API key lacks permissions for the requested resource",
            404: "symbol or figi parameter is missing or invalid",
            500: "Internal server error",
        }
        return error_body(status, messages.get(status, "Internal server error" if status >= 500 else "error"))

    def _error(self, code: int, message: str, http_status: int | None = None) -> JSONResponse:
        return JSONResponse(error_body(code, message), status_code=self._http_status(http_status or code))

    def _http_status(self, code: int) -> int:
        return 200 if self.errors_as_http_200 else code

    def _authorised(self, request: Request) -> bool:
        key = request.query_params.get("apikey")
        header = request.headers.get("authorization", "")
        if key is None and header.lower().startswith("apikey "):
            key = header[len("apikey ") :].strip()
        return key == self.api_key

    def _charge(self, path: str, symbols: int) -> JSONResponse | None:
        """Spend credits for one request, or answer the credits-exhausted error (nothing is spent then)."""
        cost, kind = CREDIT_COSTS[path]
        total = cost * symbols if kind == "symbol" else cost
        with self._lock:
            minute = _minute_of(self._now)
            used = self._state.credits_by_minute.get(minute, 0)
            if used + total > self.credits_per_minute:
                body = error_body(429, credits_exhausted_message(used + total, self.credits_per_minute))
                return JSONResponse(body, status_code=self.credits_exhausted_http_status)
            self._state.credits_by_minute[minute] = used + total
            self._state.credits_total += total
        return None

    def _gate(self, request: Request, symbols: int = 1) -> JSONResponse | None:
        if not self._authorised(request):
            return self._error(401, INVALID_API_KEY_MESSAGE)
        return self._charge(request.url.path, symbols)

    # ------------------------------------------------------------------ endpoints

    async def _technical_indicators(self, request: Request) -> Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        return JSONResponse({"data": TECHNICAL_INDICATORS, "status": "ok"})

    async def _api_usage(self, request: Request) -> Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        zone = _zone(request.query_params.get("timezone", "UTC"))
        if zone is None:
            return self._error(400, "**timezone** is invalid")
        with self._lock:
            now = self._now
            current = self._state.credits_by_minute.get(_minute_of(now), 0)
            daily = sum(
                n for minute, n in self._state.credits_by_minute.items() if minute.date() == now.date()
            )
        return JSONResponse(
            {
                "timestamp": now.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                "current_usage": current,
                "plan_limit": self.credits_per_minute,
                "daily_usage": daily,
                "plan_daily_limit": self.credits_per_day,
                "plan_category": self.plan_category,
            }
        )

    async def _time_series(self, request: Request) -> Response:
        params = request.query_params
        symbols = _split_symbols(params.get("symbol", ""))
        if not self._authorised(request):
            return self._error(401, INVALID_API_KEY_MESSAGE)
        if not symbols:
            return self._error(404, "symbol or figi parameter is missing or invalid")
        interval = params.get("interval", "")
        if interval not in INTERVALS:
            return self._error(
                400, f"**interval** is invalid or missing: {interval!r}; supported: {', '.join(INTERVALS)}"
            )
        query = _SeriesQuery.parse(params, interval)
        if isinstance(query, str):
            return self._error(400, query)
        refusal = self._adjusted_refusal(query.adjust)
        if refusal is not None:
            return refusal
        if len(symbols) == 1:
            body = self._series_body(symbols[0], interval, query)
            if body.get("status") == "error":
                # Refused requests spend no credits.
                return JSONResponse(body, status_code=self._http_status(body["code"]))
            refused = self._charge(request.url.path, 1)
            if refused is not None:
                return refused
            self._maybe_break_order(body)
            return JSONResponse(body)
        refused = self._charge(request.url.path, len(symbols))
        if refused is not None:
            return refused
        batch = {symbol: self._series_body(symbol, interval, query) for symbol in symbols}
        for body in batch.values():
            self._maybe_break_order(body)
        return JSONResponse(batch, headers={"Is_batch": "true"})

    def _adjusted_refusal(self, adjust: str) -> JSONResponse | None:
        with self._lock:
            if adjust == "none" or not self._state.adjusted_refusals:
                return None
            status = self._state.adjusted_refusals.pop(0)
        if status == 429:
            limit = self.credits_per_minute
            body = error_body(429, credits_exhausted_message(limit + 1, limit))
            return JSONResponse(body, status_code=self.credits_exhausted_http_status)
        return JSONResponse(self._default_error_body(status), status_code=self._http_status(status))

    def _maybe_break_order(self, body: dict[str, Any]) -> None:
        values = body.get("values")
        if not values or len(values) < 2:
            return
        with self._lock:
            if self._state.out_of_order_remaining <= 0:
                return
            self._state.out_of_order_remaining -= 1
        values[0], values[1] = values[1], values[0]

    def _series_body(self, symbol: str, interval: str, query: _SeriesQuery) -> dict[str, Any]:
        with self._lock:
            instrument = self._state.instruments.get(symbol)
            series = dict(self._state.bars.get((symbol, interval), {}))
            splits = list(self._state.splits.get(symbol, ()))
            dividends = list(self._state.dividends.get(symbol, ()))
        if instrument is None:
            return error_body(404, symbol_not_found_message(symbol))
        if self.serve_forming_bar:
            series = _as_of(series, INTERVALS[interval], self.now)
        series = _adjusted_series(series, query.adjust, splits, dividends)
        zone = ZoneInfo(EXCHANGE_TIMEZONE) if interval in DAILY_OR_LONGER else query.zone
        start, end = query.window(zone)
        in_window = [at for at in sorted(series) if _within(at, start, end)]
        selected = [series[at] for at in in_window]
        selected = selected[-query.outputsize :]
        if not selected:
            return error_body(400, NO_DATA_MESSAGE)
        if query.order == "desc":
            selected.reverse()
        values = [_bar_json(bar, interval, zone, query.dp) for bar in selected]
        return {
            "meta": {
                "symbol": instrument.symbol,
                "interval": interval,
                "currency": instrument.currency,
                "exchange_timezone": EXCHANGE_TIMEZONE,
                "exchange": instrument.exchange,
                "mic_code": instrument.mic_code,
                "type": instrument.type,
            },
            "values": values,
            "status": "ok",
        }

    async def _price(self, request: Request) -> Response:
        symbols = _split_symbols(request.query_params.get("symbol", ""))
        if not self._authorised(request):
            return self._error(401, INVALID_API_KEY_MESSAGE)
        if len(symbols) != 1:
            return self._error(404, "symbol or figi parameter is missing or invalid")
        dp = _parse_dp(request.query_params.get("dp"))
        if dp is None:
            return self._error(400, "**dp** must be in range [0, 11]")
        latest = self._latest_bar(symbols[0])
        if latest is None:
            return self._error(404, symbol_not_found_message(symbols[0]))
        refused = self._charge(request.url.path, 1)
        if refused is not None:
            return refused
        return JSONResponse({"price": _number(latest.close, dp)})

    def _latest_bar(self, symbol: str) -> SeedBar | None:
        with self._lock:
            candidates = [
                (at + INTERVALS[interval], bar)
                for (sym, interval), series in self._state.bars.items()
                if sym == symbol
                for at, bar in series.items()
            ]
        if not candidates:
            return None
        return max(candidates, key=lambda pair: pair[0])[1]

    async def _quote(self, request: Request) -> Response:
        params = request.query_params
        symbols = _split_symbols(params.get("symbol", ""))
        if not self._authorised(request):
            return self._error(401, INVALID_API_KEY_MESSAGE)
        if len(symbols) != 1:
            return self._error(404, "symbol or figi parameter is missing or invalid")
        symbol = symbols[0]
        interval = params.get("interval", "1day")
        dp = _parse_dp(params.get("dp"))
        if interval not in INTERVALS or dp is None:
            return self._error(400, "Invalid request")
        with self._lock:
            instrument = self._state.instruments.get(symbol)
            series = dict(self._state.bars.get((symbol, interval), {}))
            daily = dict(self._state.bars.get((symbol, "1day"), {}))
        if instrument is None or not series:
            return self._error(404, symbol_not_found_message(symbol))
        refused = self._charge(request.url.path, 1)
        if refused is not None:
            return refused
        ordered = [series[at] for at in sorted(series)]
        last = ordered[-1]
        previous = ordered[-2] if len(ordered) > 1 else None
        zone = ZoneInfo(EXCHANGE_TIMEZONE)
        body: dict[str, Any] = {
            "symbol": instrument.symbol,
            "name": instrument.name,
            "exchange": instrument.exchange,
            "mic_code": instrument.mic_code,
            "currency": instrument.currency,
            "datetime": _format_datetime(last.opened_at, interval, zone),
            "timestamp": int(last.opened_at.timestamp()),
            "last_quote_at": int(last.opened_at.timestamp()),
            "open": _number(last.open, dp),
            "high": _number(last.high, dp),
            "low": _number(last.low, dp),
            "close": _number(last.close, dp),
            "volume": "" if last.volume is None else str(last.volume),
            "is_market_open": False,
        }
        close = _decimal(last.close)
        previous_close = _decimal(previous.close) if previous is not None else None
        body["previous_close"] = _number(previous.close, dp) if previous is not None else None
        if close is not None and previous_close:
            change = close - previous_close
            body["change"] = _number(change, dp)
            body["percent_change"] = _number(change / previous_close * 100, dp)
        else:
            body["change"] = None
            body["percent_change"] = None
        body["fifty_two_week"] = _fifty_two_week(daily, last.opened_at, close, dp)
        return JSONResponse(body)


@dataclass(frozen=True, slots=True)
class _SeriesQuery:
    zone: ZoneInfo
    start_text: str | None
    end_text: str | None
    date_text: str | None
    outputsize: int
    order: str
    dp: int
    adjust: str

    @classmethod
    def parse(cls, params: Any, interval: str) -> _SeriesQuery | str:
        zone_name = params.get("timezone", "Exchange")
        zone = _zone(zone_name)
        if zone is None:
            return f"**timezone** is invalid: {zone_name}"
        start, end, on = params.get("start_date"), params.get("end_date"), params.get("date")
        for text in (start, end, on):
            if text is not None and _parse_local(text) is None:
                return f"date is invalid: {text}; use 2006-01-02 or 2006-01-02T15:04:05"
        dated = start is not None or end is not None or on is not None
        raw_size = params.get("outputsize")
        try:
            outputsize = int(raw_size) if raw_size is not None else (MAX_OUTPUTSIZE if dated else 30)
        except ValueError:
            return f"**outputsize** must be an integer, got {raw_size}"
        if not 1 <= outputsize <= MAX_OUTPUTSIZE:
            return f"**outputsize** must be in range [1, {MAX_OUTPUTSIZE}]"
        order = params.get("order", "desc").lower()
        if order not in ("asc", "desc"):
            return "**order** must be asc or desc"
        dp = _parse_dp(params.get("dp"))
        if dp is None:
            return "**dp** must be in range [0, 11]"
        adjust = params.get("adjust", DEFAULT_ADJUST).lower()
        if adjust not in ADJUST_MODES:
            return f"**adjust** must be one of {', '.join(ADJUST_MODES)}, got {adjust}"
        return cls(zone, start, end, on, outputsize, order, dp, adjust)

    def window(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        if self.date_text is not None:
            day = _parse_local(self.date_text)
            assert day is not None
            begin = datetime(day.year, day.month, day.day, tzinfo=zone)
            return begin.astimezone(UTC), (begin + timedelta(days=1)).astimezone(UTC)
        start = _parse_local(self.start_text) if self.start_text else None
        end = _parse_local(self.end_text) if self.end_text else None
        return (
            start.replace(tzinfo=zone).astimezone(UTC) if start else None,
            end.replace(tzinfo=zone).astimezone(UTC) if end else None,
        )


def _as_of(series: dict[datetime, SeedBar], length: timedelta, now: datetime) -> dict[datetime, SeedBar]:
    """The series as a provider holds it at `now`: complete bars, and the forming one part-way (it has
    opened; its close, extremes and volume are those of its first half, so it differs from the final
    bar)."""
    served: dict[datetime, SeedBar] = {}
    for at, bar in series.items():
        if at + length <= now:
            served[at] = bar
        elif at <= now:
            served[at] = _forming(bar)
    return served


def _forming(bar: SeedBar) -> SeedBar:
    opened, closed = _decimal(bar.open), _decimal(bar.close)
    if opened is None or closed is None:
        return bar
    so_far = (opened + closed) / 2
    volume = bar.volume // 2 if isinstance(bar.volume, int) else bar.volume
    return SeedBar(bar.opened_at, bar.open, max(opened, so_far), min(opened, so_far), so_far, volume)


def _session_date(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(EXCHANGE_TIMEZONE)).date()


def _adjusted_series(
    series: dict[datetime, SeedBar], adjust: str, splits: list[Split], dividends: list[Dividend]
) -> dict[datetime, SeedBar]:
    """The raw series as served with `adjust`: each bar before an action scaled backwards (see the header)."""
    with_splits = adjust in ("all", "splits")
    with_dividends = adjust in ("all", "dividends")
    ordered = sorted(series)
    dividend_factors: list[tuple[date, Decimal]] = []
    if with_dividends:
        for dividend in dividends:
            before = [series[at] for at in ordered if _session_date(at) < dividend.ex_date]
            previous_close = _decimal(before[-1].close) if before else None
            if previous_close is not None and previous_close > dividend.amount:
                dividend_factors.append((dividend.ex_date, 1 - dividend.amount / previous_close))
    result: dict[datetime, SeedBar] = {}
    for at in ordered:
        day = _session_date(at)
        price = Decimal(1)
        volume = Decimal(1)
        if with_splits:
            for split in splits:
                if day < split.on_date:
                    price /= split.ratio
                    volume *= split.ratio
        for ex_date, factor in dividend_factors:
            if day < ex_date:
                price *= factor
        result[at] = _scaled(series[at], price, volume) if price != 1 or volume != 1 else series[at]
    return result


def _scaled(bar: SeedBar, price: Decimal, volume: Decimal) -> SeedBar:
    def scale(value: Decimal | str) -> Decimal | str:
        if isinstance(value, str):
            return value
        return (value * price).quantize(ADJUSTED_QUANTUM, rounding=ROUND_HALF_EVEN)

    scaled_volume: int | str | None = bar.volume
    if isinstance(bar.volume, int):
        scaled_volume = int((bar.volume * volume).to_integral_value(rounding=ROUND_HALF_EVEN))
    return SeedBar(
        bar.opened_at, scale(bar.open), scale(bar.high), scale(bar.low), scale(bar.close), scaled_volume
    )


def _within(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment < end)


def _minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _split_symbols(raw: str) -> list[str]:
    return [part.strip().upper() for part in raw.split(",") if part.strip()]


def _zone(name: str) -> ZoneInfo | None:
    if name == "Exchange":
        return ZoneInfo(EXCHANGE_TIMEZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _parse_local(text: str) -> datetime | None:
    for pattern in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"):
        try:
            return datetime.strptime(text, pattern)  # a wall time in the requested zone
        except ValueError:
            continue
    return None


def _parse_dp(raw: str | None) -> int | None:
    if raw is None:
        return -1
    try:
        dp = int(raw)
    except ValueError:
        return None
    return dp if dp == -1 or 0 <= dp <= 11 else None


def _decimal(value: Decimal | str | int | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _number(value: Decimal | str, dp: int) -> str:
    """Twelve Data sends numbers as strings with `dp` decimals; strings seeded by the test pass through."""
    if isinstance(value, str):
        return value
    if dp < 0:
        return format(value, "f")
    return format(value.quantize(Decimal(1).scaleb(-dp), rounding=ROUND_HALF_EVEN), "f")


def _format_datetime(opened_at: datetime, interval: str, zone: ZoneInfo) -> str:
    local = opened_at.astimezone(zone)
    if interval in DAILY_OR_LONGER:
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def _bar_json(bar: SeedBar, interval: str, zone: ZoneInfo, dp: int) -> dict[str, str]:
    row = {
        "datetime": _format_datetime(bar.opened_at, interval, zone),
        "open": _number(bar.open, dp),
        "high": _number(bar.high, dp),
        "low": _number(bar.low, dp),
        "close": _number(bar.close, dp),
    }
    if bar.volume is not None:
        row["volume"] = str(bar.volume)
    return row


def _fifty_two_week(
    daily: dict[datetime, SeedBar], until: datetime, close: Decimal | None, dp: int
) -> dict[str, Any]:
    since = until - timedelta(weeks=52)
    window: Sequence[SeedBar] = [bar for at, bar in daily.items() if since <= at <= until]
    lows = [low for bar in window if (low := _decimal(bar.low)) is not None]
    highs = [high for bar in window if (high := _decimal(bar.high)) is not None]
    if not lows or not highs or close is None:
        return {}
    low, high = min(lows), max(highs)
    return {
        "low": _number(low, dp),
        "high": _number(high, dp),
        "low_change": _number(close - low, dp),
        "high_change": _number(close - high, dp),
        "low_change_percent": _number((close - low) / low * 100, dp) if low else None,
        "high_change_percent": _number((close - high) / high * 100, dp) if high else None,
        "range": f"{_number(low, 6)} - {_number(high, 6)}",
    }


def daily_rows(start: date, closes: Sequence[Decimal], *, volume: int = 1_000_000) -> list[SeedBar]:
    """Daily bars on consecutive weekdays from `start`, each opening 09:30 New York; open = previous close."""
    rows: list[SeedBar] = []
    day = start
    previous = closes[0]
    zone = ZoneInfo(EXCHANGE_TIMEZONE)
    for close in closes:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        opened_at = datetime(day.year, day.month, day.day, 9, 30, tzinfo=zone).astimezone(UTC)
        rows.append(
            SeedBar(
                opened_at=opened_at,
                open=previous,
                high=max(previous, close) + Decimal("0.5"),
                low=min(previous, close) - Decimal("0.5"),
                close=close,
                volume=volume,
            )
        )
        previous = close
        day += timedelta(days=1)
    return rows
