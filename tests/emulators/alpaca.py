"""Local emulator of Alpaca's Trading API v2 and Market Data API v2 (stocks), for the official alpaca-py.

Serve `AlpacaEmulator().app` with `EmulatorServer` and point both `TradingClient(..., url_override=...)`
and `StockHistoricalDataClient(..., url_override=...)` at its `base_url` (one app answers both).

Covers: APCA-API-KEY-ID / APCA-API-SECRET-KEY check (401); GET /v2/account; /v2/clock and /v2/calendar
from the XNYS calendar (exchange_calendars) at a settable `now`; /v2/assets and /v2/assets/{symbol}
(tradable or not; unknown -> 404); orders: POST /v2/orders (market, limit, stop, stop_limit,
trailing_stop; qty or notional; day/gtc/opg/cls/ioc/fok; client_order_id unique; order_class bracket
with take_profit.limit_price and stop_loss.stop_price (oto: one of them), checked against the base price
as Alpaca does, answered with its `legs`), GET /v2/orders
(status, limit, after, until, direction, symbols, side, nested), GET /v2/orders/{id},
GET /v2/orders:by_client_order_id, DELETE /v2/orders/{id}, DELETE /v2/orders (207); positions: list,
one, close one (qty / percentage), close all (207 per symbol, optional cancel_orders);
GET /v2/account/activities[/FILL]; market data: /v2/stocks/bars, /v2/stocks/{symbol}/bars (page_token
pagination, sort, start/end inclusive, limit), latest bars/quotes/trades (multi and single symbol),
the `feed` parameter (recorded; seeds may be per feed; `sip_allowed=False` refuses sip), the `adjustment`
parameter of the bars endpoints (raw | split | dividend | all) over splits and cash dividends seeded
with `seed_split(symbol, on_date, ratio)` / `seed_dividend(symbol, ex_date, amount)`: seeded bars are
raw, bars dated (New York) before an action are served adjusted.

Matching model (deterministic, test-driven): the test sets a price per symbol (`set_price`); nothing fills
until `fill_pending()` (or on every submission with `fill_on_submit=True`, applied after the POST
answer is built, as the real POST answers before the fill). Market orders fill at the set price; limit
orders when the price reaches the limit (at the set price); stop / stop_limit trigger when the price
crosses the stop; trailing stops track the high-water mark. A bracket's legs (take-profit limit,
stop-loss stop; alpaca-py's TakeProfitRequest/StopLossRequest) are `held` until the entry fills, then
`new`; the first to fill cancels the other, and canceling the entry (or cancel-all) cancels them;
`nested=true` lists legs under their entry (an entry with working legs is listed as open).
`set_liquidity(symbol, qty)` caps each fill pass, giving partial fills. Cash, positions (average
entry price) and FILL activities follow the fills.

Faults (`inject(Fault(...))`, see faults.py): answer 429/504/500 without processing, "process then
answer 500" (the order IS created), "process then answer late" (past the client's timeout), and
per-symbol failures on close-all (`fail_close_position`).

Where the formats come from:
- alpaca-py's test fixtures (`/work/shared/reference/alpaca_py_test_fixtures/*.json`): order, position,
  account, clock, calendar, cancel-all (207 with per-order status) and close-all (207 with per-symbol
  status/body, 403 bodies "insufficient qty available for order (requested: N, available: M)" with
  available/existing_qty/held_for_orders/symbol, and "account is not allowed to short"), multi-symbol
  bars with next_page_token (base64 of "SYMBOL|D|timestamp"), latest quote/trade bodies.
- Alpaca's OpenAPI specs (`alpaca_trading_openapi.yaml`, `alpaca_data_openapi.yaml`): paths,
  parameters and defaults (orders: status open, limit 50 max 500, direction desc; data: limit 1-10000
  default 1000, start/end inclusive), single-symbol bars `{"bars", "symbol", "next_page_token"}`,
  asset and FILL activity fields, DELETE /v2/orders/{id} -> 204, 422 for a non-cancelable order.
- alpaca-py's sources: what it sends (`cancel_orders=True` with a capital T, `symbols=` for every bars
  call, `timeframe` like 1Min/1Hour/1Day) and what its models require.
- Public alpaca issue threads: 422 `{"code": 40010001, "message": "client_order_id must be unique"}`,
  404 `{"code": 40410000, "message": "position does not exist"}`, 403 insufficient buying power body
  `{"buying_power", "code": 40310000, "cost_basis", "message": "insufficient buying power"}`.
- Adjustment (the data spec gives only the enum; alpaca-py sends `adjustment=<value>` only when the
  request sets it): not sent means raw, as Alpaca's documentation says. "split: adjust price and volume
  for splits, dividend: adjust price for cash dividends, all: both" as documented; the arithmetic is the
  usual backward adjustment, our choice: earlier prices / ratio and volumes x ratio for a split, earlier
  prices x (1 - amount / last raw close before the ex-date in the series served) for a dividend,
  adjusted prices rounded to 4 decimals.
- From memory of the live API, not sourced (so marked): the 401 body, the texts for an unknown or
  untradable asset, an unknown order, a non-cancelable order ("order is already in \"filled\" state"),
  the sip-subscription refusal, and the default bodies of injected 429/500/504.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.alpaca_news import NewsAndScreener
from tests.emulators.alpaca_trading_stream import TradingStreamHub
from tests.emulators.faults import FaultableEmulator
from tests.emulators.server import EmulatorServer

NEW_YORK = ZoneInfo("America/New_York")
_NAMESPACE = uuid.UUID("6f1c2a8e-0d7b-4c55-9a43-2f0b5d7e9c11")
OPEN_STATUSES = frozenset(
    {
        "new",
        "partially_filled",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "held",
        "pending_cancel",
        "pending_replace",
        "calculated",
    }
)
ORDER_TYPES = frozenset({"market", "limit", "stop", "stop_limit", "trailing_stop"})
TIMES_IN_FORCE = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
FEEDS = frozenset({"iex", "sip", "otc", "delayed_sip"})
ADJUSTMENTS = frozenset({"raw", "split", "dividend", "all"})
ADJUSTED_QUANTUM = Decimal("0.0001")
UNAUTHORIZED_BODY = {"code": 40110000, "message": "request is not authorized"}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bar_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _ratio(numerator: Decimal, denominator: Decimal) -> str:
    if denominator == 0:
        return "0"
    return _text((numerator / denominator).quantize(Decimal("0.0000000001"))) or "0"


def _error(status: int, code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({**extra, "code": code, "message": message}, status_code=status)


def _decimal(raw: Any) -> Decimal | None:
    if raw is None:
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _parse_time(raw: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            return None
        return datetime(day.year, day.month, day.day, tzinfo=NEW_YORK)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _is_true(raw: str | None) -> bool:
    return raw is not None and raw.lower() == "true"


@cache
def _xnys() -> Any:
    import exchange_calendars

    return exchange_calendars.get_calendar("XNYS")


@dataclass(frozen=True, slots=True)
class Asset:
    symbol: str
    name: str = ""
    exchange: str = "NASDAQ"
    tradable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True
    marginable: bool = True
    status: str = "active"

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"asset:{self.symbol}")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "class": "us_equity",
            "exchange": self.exchange,
            "symbol": self.symbol,
            "name": self.name or f"{self.symbol} Common Stock",
            "status": self.status,
            "tradable": self.tradable,
            "marginable": self.marginable,
            "maintenance_margin_requirement": 30,
            "shortable": self.shortable,
            "easy_to_borrow": self.easy_to_borrow,
            "fractionable": self.fractionable,
            "attributes": [],
        }


@dataclass(frozen=True, slots=True)
class DataBar:
    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    trade_count: int = 0
    vwap: Decimal | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "t": _bar_stamp(self.at),
            "o": float(self.open),
            "h": float(self.high),
            "l": float(self.low),
            "c": float(self.close),
            "v": self.volume,
            "n": self.trade_count,
            "vw": float(self.vwap if self.vwap is not None else self.close),
        }


@dataclass
class _Order:
    id: uuid.UUID
    sequence: int
    client_order_id: str
    asset: Asset
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    extended_hours: bool
    position_intent: str | None
    status: str
    created_at: datetime
    filled_qty: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    updated_at: datetime | None = None
    hwm: Decimal | None = None
    triggered: bool = False
    expired_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_at: datetime | None = None
    replaced_by: uuid.UUID | None = None
    replaces: uuid.UUID | None = None
    order_class: str = "simple"
    # A bracket's entry lists its legs (take-profit, then stop-loss); each leg names its entry.
    legs: list[uuid.UUID] = field(default_factory=list)
    parent_id: uuid.UUID | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def filled_avg_price(self) -> Decimal | None:
        if self.filled_qty == 0:
            return None
        return (self.filled_notional / self.filled_qty).quantize(Decimal("0.0001")).normalize()

    def remaining_qty(self, price: Decimal) -> Decimal:
        if self.qty is not None:
            return self.qty - self.filled_qty
        assert self.notional is not None
        left = self.notional - self.filled_notional
        return (left / price).quantize(Decimal("0.000000001"), rounding=ROUND_DOWN)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "client_order_id": self.client_order_id,
            "created_at": _stamp(self.created_at),
            "updated_at": _stamp(self.updated_at or self.created_at),
            "submitted_at": _stamp(self.created_at),
            "filled_at": _stamp(self.filled_at) if self.filled_at else None,
            "expired_at": _stamp(self.expired_at) if self.expired_at else None,
            "expires_at": None,
            "canceled_at": _stamp(self.canceled_at) if self.canceled_at else None,
            "failed_at": _stamp(self.failed_at) if self.failed_at else None,
            "replaced_at": _stamp(self.replaced_at) if self.replaced_at else None,
            "replaced_by": str(self.replaced_by) if self.replaced_by else None,
            "replaces": str(self.replaces) if self.replaces else None,
            "asset_id": str(self.asset.id),
            "symbol": self.asset.symbol,
            "asset_class": "us_equity",
            "notional": _text(self.notional),
            "qty": _text(self.qty),
            "filled_qty": _text(self.filled_qty),
            "filled_avg_price": _text(self.filled_avg_price),
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force,
            "limit_price": _text(self.limit_price),
            "stop_price": _text(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": None,
            "trail_percent": _text(self.trail_percent),
            "trail_price": _text(self.trail_price),
            "hwm": _text(self.hwm),
            "subtag": None,
            "source": None,
        }


@dataclass
class _Position:
    asset: Asset
    qty: Decimal
    avg_entry_price: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution made by the matching model (also served as a FILL activity)."""

    order_id: uuid.UUID
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    filled_at: datetime
    cumulative_qty: Decimal
    leaves_qty: Decimal
    order_status: str


@dataclass
class _State:
    assets: dict[str, Asset] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)
    lastday_prices: dict[str, Decimal] = field(default_factory=dict)
    liquidity: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[uuid.UUID, _Order] = field(default_factory=dict)
    positions: dict[str, _Position] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    close_failures: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    bars: dict[tuple[str, str, str | None], dict[datetime, DataBar]] = field(default_factory=dict)
    quotes: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)
    trades: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)
    splits: dict[str, list[tuple[date, Decimal]]] = field(default_factory=dict)
    dividends: dict[str, list[tuple[date, Decimal]]] = field(default_factory=dict)
    adjusted_refusals: list[int] = field(default_factory=list)
    sequence: int = 0


class AlpacaEmulator(FaultableEmulator):
    def __init__(
        self,
        api_key: str = "test-alpaca-key",
        secret_key: str = "test-alpaca-secret",
        *,
        cash: Decimal = Decimal(100_000),
        shorting_enabled: bool = False,
        now: datetime = datetime(2024, 1, 2, 15, 0, tzinfo=UTC),
        sip_allowed: bool = True,
    ) -> None:
        super().__init__(now)
        self.api_key = api_key
        self.secret_key = secret_key
        self.shorting_enabled = shorting_enabled
        self.sip_allowed = sip_allowed
        self.fill_on_submit = False
        # The most bars one page holds, whatever `limit` asks; lower it to make the SDK follow page tokens.
        self.bars_page_size = 10_000
        self.account_id = uuid.uuid5(_NAMESPACE, f"account:{api_key}")
        self._cash = cash
        self._last_equity = cash
        # Account fields a test states (day-trade figures, a negative buying power...) or leaves out.
        self._account_overrides: dict[str, Any] = {}
        self._account_omitted: set[str] = set()
        self._state = _State()
        # The trade_updates websocket at /stream, told of every order change below.
        self.stream = TradingStreamHub(api_key, secret_key)
        # Announce each new order as pending_new before new (Alpaca sends both in some cases).
        self.pending_new_first = False
        guarded: Callable[[Callable[[Request], Awaitable[Response]]], Any] = self._guarded
        routes = [
            Route("/v2/account", guarded(self._account)),
            Route("/v2/clock", guarded(self._clock)),
            Route("/v2/calendar", guarded(self._calendar)),
            Route("/v2/assets", guarded(self._assets)),
            Route("/v2/assets/{symbol_or_id}", guarded(self._asset)),
            Route("/v2/orders", guarded(self._submit_order), methods=["POST"]),
            Route("/v2/orders", guarded(self._list_orders), methods=["GET"]),
            Route("/v2/orders", guarded(self._cancel_all_orders), methods=["DELETE"]),
            Route("/v2/orders:by_client_order_id", guarded(self._order_by_client_id), methods=["GET"]),
            Route("/v2/orders/{order_id}", guarded(self._get_order), methods=["GET"]),
            Route("/v2/orders/{order_id}", guarded(self._cancel_order), methods=["DELETE"]),
            Route("/v2/positions", guarded(self._list_positions), methods=["GET"]),
            Route("/v2/positions", guarded(self._close_all_positions), methods=["DELETE"]),
            Route("/v2/positions/{symbol_or_id}", guarded(self._get_position), methods=["GET"]),
            Route("/v2/positions/{symbol_or_id}", guarded(self._close_position), methods=["DELETE"]),
            Route("/v2/account/activities", guarded(self._activities)),
            Route("/v2/account/activities/{activity_type}", guarded(self._activities)),
            Route("/v2/stocks/bars", guarded(self._multi_bars)),
            Route("/v2/stocks/bars/latest", guarded(self._latest_bars)),
            Route("/v2/stocks/quotes/latest", guarded(self._latest_quotes)),
            Route("/v2/stocks/trades/latest", guarded(self._latest_trades)),
            Route("/v2/stocks/{symbol}/bars", guarded(self._single_bars)),
            Route("/v2/stocks/{symbol}/bars/latest", guarded(self._single_latest_bar)),
            Route("/v2/stocks/{symbol}/quotes/latest", guarded(self._single_latest_quote)),
            Route("/v2/stocks/{symbol}/trades/latest", guarded(self._single_latest_trade)),
            self.stream.route(),
        ]
        self.news = NewsAndScreener()  # /v1beta1/news and the screener lists (alpaca_news.py)
        routes += self.news.routes(guarded)
        self._serve(routes, self._default_error_body)

    # ================================================================== test controls

    def add_asset(self, asset: Asset) -> None:
        with self._lock:
            self._state.assets[asset.symbol] = asset

    def set_price(self, symbol: str, price: Decimal, *, lastday_price: Decimal | None = None) -> None:
        """The price market orders fill at and limit/stop orders are checked against; registers the asset."""
        with self._lock:
            self._state.assets.setdefault(symbol, Asset(symbol))
            self._state.prices[symbol] = price
            if lastday_price is not None:
                self._state.lastday_prices[symbol] = lastday_price
            else:
                self._state.lastday_prices.setdefault(symbol, price)
            for order in self._state.orders.values():
                if order.is_open and order.asset.symbol == symbol and order.type == "trailing_stop":
                    self._track_high_water_mark(order, price)

    def set_account(self, *, omit: Iterable[str] = (), **fields: Any) -> None:
        """Answer GET /v2/account with these fields as given (Decimals as strings), without the
        fields named in `omit`; e.g. `set_account(daytrade_count=3, pattern_day_trader=False)`,
        `set_account(buying_power=Decimal(-500))`, `set_account(omit=["equity"])`."""
        with self._lock:
            self._account_overrides.update(
                {
                    name: _text(value) if isinstance(value, Decimal) else value
                    for name, value in fields.items()
                }
            )
            self._account_omitted = set(omit)

    def set_cash(self, cash: Decimal, *, last_equity: Decimal | None = None) -> None:
        with self._lock:
            self._cash = cash
            self._last_equity = cash if last_equity is None else last_equity

    def set_liquidity(self, symbol: str, qty_per_fill: Decimal | None) -> None:
        """Cap how much of an order one fill pass can execute (None: unlimited)."""
        with self._lock:
            if qty_per_fill is None:
                self._state.liquidity.pop(symbol, None)
            else:
                self._state.liquidity[symbol] = qty_per_fill

    def set_position(self, symbol: str, qty: Decimal, avg_entry_price: Decimal) -> None:
        """Start with a holding (cash unchanged), e.g. to test closing it."""
        with self._lock:
            asset = self._state.assets.setdefault(symbol, Asset(symbol))
            self._state.prices.setdefault(symbol, avg_entry_price)
            self._state.lastday_prices.setdefault(symbol, avg_entry_price)
            self._state.positions[symbol] = _Position(asset, qty, avg_entry_price)

    def fail_close_position(self, symbol: str, status: int = 403, body: dict[str, Any] | None = None) -> None:
        """Close-all answers this symbol's entry with `status`/`body` (default: not allowed to short)."""
        with self._lock:
            self._state.close_failures[symbol] = (
                status,
                body or {"code": 40310000, "message": "account is not allowed to short"},
            )

    @property
    def cash(self) -> Decimal:
        with self._lock:
            return self._cash

    def position_qty(self, symbol: str) -> Decimal:
        with self._lock:
            position = self._state.positions.get(symbol)
            return position.qty if position else Decimal(0)

    def order_count(self) -> int:
        with self._lock:
            return len(self._state.orders)

    def order_status(self, order_id: str | uuid.UUID) -> str:
        with self._lock:
            return self._state.orders[uuid.UUID(str(order_id))].status

    def fill_pending(self) -> list[Fill]:
        """Run one matching pass over open orders in submission order; return the fills made."""
        with self._lock:
            made: list[Fill] = []
            for order in sorted(self._state.orders.values(), key=lambda o: o.sequence):
                if order.is_open:
                    fill = self._match(order)
                    if fill is not None:
                        made.append(fill)
            return made

    def expire_orders(self, time_in_force: str = "day") -> list[str]:
        """The end of the orders' lifespan (e.g. the close for day orders): every open order with
        this time in force expires; returns their ids."""
        with self._lock:
            expired = [o for o in self._open_in_sequence() if o.time_in_force == time_in_force]
            for order in expired:
                self._finish(order, "expired")
                order.expired_at = self._now
                self._announce(order, "expired")
            return [str(order.id) for order in expired]

    def reject_order(self, order_id: str | uuid.UUID) -> None:
        """The venue rejects an order Alpaca had accepted (the REST submission already answered)."""
        with self._lock:
            order = self._state.orders[uuid.UUID(str(order_id))]
            self._finish(order, "rejected")
            order.failed_at = self._now
            self._announce(order, "rejected")

    def finish_day(self, order_id: str | uuid.UUID) -> None:
        """The order is done for the day (no more executions until the next session)."""
        with self._lock:
            order = self._state.orders[uuid.UUID(str(order_id))]
            self._finish(order, "done_for_day")
            self._announce(order, "done_for_day")

    def replace_order(self, order_id: str | uuid.UUID, *, qty: Decimal) -> str:
        """A replacement processed (what PATCH /v2/orders/{id} leads to): the old order is
        `replaced`, a new one with the new quantity takes its place; returns the new order's id."""
        with self._lock:
            old = self._state.orders[uuid.UUID(str(order_id))]
            sequence = self._next()
            new = _Order(
                **{
                    **{name: getattr(old, name) for name in _Order.__dataclass_fields__},
                    "id": uuid.uuid5(_NAMESPACE, f"order:{sequence}"),
                    "sequence": sequence,
                    "client_order_id": str(uuid.uuid5(_NAMESPACE, f"coid:{sequence}")),
                    "qty": qty,
                    "status": "new",
                    "created_at": self._now,
                    "updated_at": None,
                    "replaces": old.id,
                }
            )
            self._finish(old, "replaced")
            old.replaced_at, old.replaced_by = self._now, new.id
            self._state.orders[new.id] = new
            self._announce(old, "replaced")
            self._announce(new, "new")
            return str(new.id)

    def _open_in_sequence(self) -> list[_Order]:
        return [o for o in sorted(self._state.orders.values(), key=lambda o: o.sequence) if o.is_open]

    def _finish(self, order: _Order, status: str) -> None:
        if not order.is_open:
            raise ValueError(f"order {order.id} is already {order.status}")
        order.status = status
        order.updated_at = self._now

    # ================================================================== the trade_updates stream

    def _announce(self, order: _Order, event: str, **fields: Any) -> None:
        update = {"event": event, "timestamp": _stamp(self._now), "order": order.as_json(), **fields}
        self.stream.publish(update)

    def _announce_accepted(self, order: _Order) -> None:
        if self.pending_new_first:
            copy = {**order.as_json(), "status": "pending_new"}
            self.stream.publish({"event": "pending_new", "timestamp": _stamp(self._now), "order": copy})
        self._announce(order, order.status)  # "new", or "accepted" while the market is closed

    def _announce_fill(self, order: _Order, fill: Fill, *, number: int) -> None:
        position = self._state.positions.get(order.asset.symbol)
        self._announce(
            order,
            "fill" if order.status == "filled" else "partial_fill",
            timestamp=_stamp(fill.filled_at),
            price=_text(fill.price),
            qty=_text(fill.qty),
            position_qty=_text(position.qty if position else Decimal(0)),
            # The stream's execution id is not the FILL activity's id (as at Alpaca).
            execution_id=str(uuid.uuid5(_NAMESPACE, f"execution:{number}")),
        )

    def seed_bars(
        self, symbol: str, timeframe: str, rows: Iterable[DataBar], *, feed: str | None = None
    ) -> None:
        """Bars for a symbol and timeframe ("1Min", "1Day"...); with `feed`, served only for that feed."""
        with self._lock:
            series = self._state.bars.setdefault((symbol, timeframe, feed), {})
            for row in rows:
                series[row.at.astimezone(UTC)] = row

    def seed_split(self, symbol: str, on_date: date, ratio: Decimal | int) -> None:
        """A split of `ratio` new shares per old, effective at the session of `on_date` (New York date)."""
        if Decimal(ratio) <= 0:
            raise ValueError(f"a split ratio must be positive, got {ratio}")
        with self._lock:
            self._state.splits.setdefault(symbol.upper(), []).append((on_date, Decimal(ratio)))

    def seed_dividend(self, symbol: str, ex_date: date, amount: Decimal) -> None:
        """A cash dividend going ex at the session of `ex_date` (New York date)."""
        if amount <= 0:
            raise ValueError(f"a dividend must be positive, got {amount}")
        with self._lock:
            self._state.dividends.setdefault(symbol.upper(), []).append((ex_date, amount))

    def refuse_adjusted_next(self, status: int = 500, times: int = 1) -> None:
        """The next bars request(s) asking for an adjustment other than raw answer `status` (raw ones are
        served), e.g. the adjusted call of a fetch failing after its raw call succeeded."""
        with self._lock:
            self._state.adjusted_refusals.extend([status] * times)

    def set_latest_quote(
        self,
        symbol: str,
        *,
        bid: Decimal,
        ask: Decimal,
        bid_size: int = 1,
        ask_size: int = 1,
        at: datetime | None = None,
        feed: str | None = None,
    ) -> None:
        with self._lock:
            self._state.quotes[(symbol, feed)] = {
                "t": _stamp(at or self._now),
                "ax": "V",
                "ap": float(ask),
                "as": ask_size,
                "bx": "V",
                "bp": float(bid),
                "bs": bid_size,
                "c": ["R"],
                "z": "C",
            }

    def set_latest_trade(
        self,
        symbol: str,
        *,
        price: Decimal,
        size: int = 100,
        at: datetime | None = None,
        feed: str | None = None,
    ) -> None:
        with self._lock:
            self._state.sequence += 1
            self._state.trades[(symbol, feed)] = {
                "t": _stamp(at or self._now),
                "x": "V",
                "p": float(price),
                "s": size,
                "c": ["@"],
                "i": self._state.sequence,
                "z": "C",
            }

    # ================================================================== plumbing

    @staticmethod
    def _default_error_body(status: int) -> dict[str, Any]:
        known = {
            401: UNAUTHORIZED_BODY,
            429: {"code": 42910000, "message": "rate limit exceeded"},
            500: {"code": 50010000, "message": "internal server error occurred"},
            504: {"code": 50410000, "message": "gateway timeout"},
        }
        return known.get(status, {"code": status * 100000, "message": "error"})

    def _guarded(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            key = request.headers.get("apca-api-key-id")
            secret = request.headers.get("apca-api-secret-key")
            if key != self.api_key or secret != self.secret_key:
                return JSONResponse(UNAUTHORIZED_BODY, status_code=401)
            return await handler(request)

        return endpoint

    def _after_response(self) -> None:
        if self.fill_on_submit:
            self.fill_pending()

    def _find_asset(self, symbol_or_id: str) -> Asset | None:
        asset = self._state.assets.get(symbol_or_id.upper())
        if asset is not None:
            return asset
        return next((a for a in self._state.assets.values() if str(a.id) == symbol_or_id), None)

    # ================================================================== account, clock, calendar, assets

    def _position_values(self, position: _Position) -> dict[str, Any]:
        price = self._state.prices.get(position.asset.symbol, position.avg_entry_price)
        lastday = self._state.lastday_prices.get(position.asset.symbol, price)
        market_value = position.qty * price
        cost_basis = position.qty * position.avg_entry_price
        unrealized = market_value - cost_basis
        intraday = position.qty * (price - lastday)
        held = self._held_for_orders(position.asset.symbol, "sell" if position.qty > 0 else "buy")
        values = {
            "avg_entry_price": _text(position.avg_entry_price),
            "market_value": _text(market_value),
            "cost_basis": _text(cost_basis),
            "unrealized_pl": _text(unrealized),
            "unrealized_plpc": _ratio(unrealized, abs(cost_basis)),
            "unrealized_intraday_pl": _text(intraday),
            "unrealized_intraday_plpc": _ratio(price - lastday, lastday),
            "current_price": _text(price),
            "lastday_price": _text(lastday),
            "change_today": _ratio(price - lastday, lastday),
        }
        return {
            "asset_id": str(position.asset.id),
            "symbol": position.asset.symbol,
            "exchange": position.asset.exchange,
            "asset_class": "us_equity",
            "asset_marginable": position.asset.marginable,
            "qty": _text(position.qty),
            "side": "long" if position.qty > 0 else "short",
            **values,
            "qty_available": _text(abs(position.qty) - held),
            "usd": dict(values),
        }

    def _market_values(self) -> tuple[Decimal, Decimal]:
        long_value = Decimal(0)
        short_value = Decimal(0)
        for position in self._state.positions.values():
            value = position.qty * self._state.prices.get(position.asset.symbol, position.avg_entry_price)
            if value >= 0:
                long_value += value
            else:
                short_value += value
        return long_value, short_value

    def _reserved_for_buys(self) -> Decimal:
        reserved = Decimal(0)
        for order in self._state.orders.values():
            if order.is_open and order.side == "buy":
                price = order.limit_price or self._state.prices.get(order.asset.symbol) or order.stop_price
                if order.notional is not None:
                    reserved += order.notional - order.filled_notional
                elif price is not None and order.qty is not None:
                    reserved += (order.qty - order.filled_qty) * price
        return reserved

    def _buying_power(self) -> Decimal:
        return self._cash - self._reserved_for_buys()

    async def _account(self, request: Request) -> Response:
        with self._lock:
            long_value, short_value = self._market_values()
            equity = self._cash + long_value + short_value
            buying_power = self._buying_power()
            body = {
                "id": str(self.account_id),
                "account_number": "PA" + self.account_id.hex[:10].upper(),
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "currency": "USD",
                "buying_power": _text(buying_power),
                "regt_buying_power": _text(buying_power),
                "daytrading_buying_power": "0",
                "non_marginable_buying_power": _text(buying_power),
                "options_buying_power": _text(buying_power),
                "cash": _text(self._cash),
                "accrued_fees": "0",
                "portfolio_value": _text(equity),
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "created_at": "2024-01-01T00:00:00.000000Z",
                "trade_suspended_by_user": False,
                "multiplier": "1",
                "shorting_enabled": self.shorting_enabled,
                "equity": _text(equity),
                "last_equity": _text(self._last_equity),
                "long_market_value": _text(long_value),
                "short_market_value": _text(short_value),
                "initial_margin": "0",
                "maintenance_margin": "0",
                "last_maintenance_margin": "0",
                "sma": "0",
                "daytrade_count": 0,
                "options_approved_level": 0,
                "options_trading_level": 0,
            }
            body.update(self._account_overrides)
            for name in self._account_omitted:
                body.pop(name, None)
        return JSONResponse(body)

    async def _clock(self, request: Request) -> Response:
        import pandas as pd

        calendar = _xnys()
        now = self.now
        moment = pd.Timestamp(now).floor("min")
        is_open = bool(calendar.is_open_on_minute(moment))
        next_open = calendar.next_open(moment).to_pydatetime()
        next_close = calendar.next_close(moment).to_pydatetime()
        return JSONResponse(
            {
                "timestamp": now.astimezone(NEW_YORK).isoformat(timespec="microseconds"),
                "is_open": is_open,
                "next_open": next_open.astimezone(NEW_YORK).isoformat(),
                "next_close": next_close.astimezone(NEW_YORK).isoformat(),
            }
        )

    async def _calendar(self, request: Request) -> Response:
        calendar = _xnys()
        params = request.query_params
        try:
            start = date.fromisoformat(params["start"][:10]) if "start" in params else None
            end = date.fromisoformat(params["end"][:10]) if "end" in params else None
        except ValueError:
            return _error(400, 40010001, "invalid start or end date")
        first = calendar.first_session.date()
        last = calendar.last_session.date()
        start = max(start or first, first)
        end = min(end or last, last)
        if start > end:
            return JSONResponse([])
        sessions = calendar.sessions_in_range(start.isoformat(), end.isoformat())
        body = [
            {
                "date": session.date().isoformat(),
                "open": calendar.session_open(session).tz_convert(NEW_YORK).strftime("%H:%M"),
                "close": calendar.session_close(session).tz_convert(NEW_YORK).strftime("%H:%M"),
                "session_open": "0400",
                "session_close": "2000",
            }
            for session in sessions
        ]
        return JSONResponse(body)

    async def _assets(self, request: Request) -> Response:
        status = request.query_params.get("status")
        with self._lock:
            assets = [
                a.as_json() for a in self._state.assets.values() if status is None or a.status == status
            ]
        return JSONResponse(assets)

    async def _asset(self, request: Request) -> Response:
        with self._lock:
            asset = self._find_asset(request.path_params["symbol_or_id"])
        if asset is None:
            return _error(404, 40410000, "asset not found")
        return JSONResponse(asset.as_json())

    # ================================================================== orders

    async def _submit_order(self, request: Request) -> Response:
        try:
            payload = await request.json()
        except ValueError:
            return _error(400, 40010000, "request body format is invalid")
        if not isinstance(payload, dict):
            return _error(400, 40010000, "request body format is invalid")
        with self._lock:
            created = self._create_order(payload)
            if isinstance(created, Response):
                return created
            body = self._nested_json(created)
        response = JSONResponse(body)
        self._after_response()
        return response

    def _create_order(self, payload: dict[str, Any]) -> _Order | JSONResponse:
        symbol = str(payload.get("symbol") or "")
        asset = self._find_asset(symbol)
        if asset is None:
            return _error(422, 40010001, f'asset "{symbol}" not found')
        if not asset.tradable or asset.status != "active":
            return _error(422, 40010001, f"asset {asset.symbol} is not tradable")
        side = payload.get("side")
        order_type = payload.get("type") or payload.get("order_type")
        time_in_force = payload.get("time_in_force")
        if side not in ("buy", "sell"):
            return _error(422, 40010001, "side must be buy or sell")
        if order_type not in ORDER_TYPES:
            return _error(422, 40010001, f"invalid order type: {order_type}")
        if time_in_force not in TIMES_IN_FORCE:
            return _error(422, 40010001, f"invalid time_in_force: {time_in_force}")
        qty, notional = _decimal(payload.get("qty")), _decimal(payload.get("notional"))
        if (qty is None) == (notional is None):
            return _error(422, 40010001, "exactly one of qty or notional is required")
        if (qty is not None and qty <= 0) or (notional is not None and notional <= 0):
            return _error(422, 40010001, "qty and notional must be positive")
        if notional is not None and (order_type != "market" or time_in_force != "day"):
            return _error(422, 40010001, "notional orders must be market orders with time_in_force day")
        if qty is not None and qty != qty.to_integral_value() and not asset.fractionable:
            return _error(422, 40010001, f"asset {asset.symbol} is not fractionable")
        limit_price = _decimal(payload.get("limit_price"))
        stop_price = _decimal(payload.get("stop_price"))
        trail_price = _decimal(payload.get("trail_price"))
        trail_percent = _decimal(payload.get("trail_percent"))
        if order_type in ("limit", "stop_limit") and limit_price is None:
            return _error(422, 40010001, "limit_price is required")
        if order_type in ("stop", "stop_limit") and stop_price is None:
            return _error(422, 40010001, "stop_price is required")
        if order_type == "trailing_stop" and (trail_price is None) == (trail_percent is None):
            return _error(422, 40010001, "exactly one of trail_price or trail_percent is required")
        order_class = payload.get("order_class") or "simple"
        levels = self._bracket_levels(payload, order_class, side, time_in_force, asset, limit_price)
        if isinstance(levels, JSONResponse):
            return levels
        if qty is not None and qty != qty.to_integral_value():
            if order_class != "simple":
                return _error(422, 40010001, "fractional orders must be simple orders")
            if time_in_force != "day":
                return _error(422, 40010001, "fractional orders must be DAY orders")
        client_order_id = str(
            payload.get("client_order_id") or uuid.uuid5(_NAMESPACE, f"coid:{self._next()}")
        )
        if len(client_order_id) > 128:
            return _error(422, 40010001, "client_order_id must be no more than 128 characters")
        if any(o.client_order_id == client_order_id for o in self._state.orders.values()):
            return _error(422, 40010001, "client_order_id must be unique")
        price = self._state.prices.get(asset.symbol)
        if side == "buy":
            reference = limit_price or price or stop_price
            cost = notional if notional is not None else (qty * reference if qty and reference else None)
            buying_power = self._buying_power()
            if cost is not None and cost > buying_power:
                return _error(
                    403,
                    40310000,
                    "insufficient buying power",
                    buying_power=_text(buying_power),
                    cost_basis=_text(cost),
                )
        refusal = self._check_sell_quantity(asset, side, qty, notional, price)
        if refusal is not None:
            return refusal
        sequence = self._next()
        order = _Order(
            id=uuid.uuid5(_NAMESPACE, f"order:{sequence}"),
            sequence=sequence,
            client_order_id=client_order_id,
            asset=asset,
            side=side,
            type=order_type,
            time_in_force=time_in_force,
            qty=qty,
            notional=notional,
            limit_price=limit_price,
            stop_price=stop_price,
            trail_price=trail_price,
            trail_percent=trail_percent,
            extended_hours=bool(payload.get("extended_hours", False)),
            position_intent=payload.get("position_intent") or self._intent(asset.symbol, side),
            status="new" if self._market_open() else "accepted",
            created_at=self._now,
            order_class="simple" if levels is None else str(order_class),
        )
        if order_type == "trailing_stop" and price is not None:
            self._track_high_water_mark(order, price)
        self._state.orders[order.id] = order
        self._announce_accepted(order)
        if levels is not None:
            self._add_legs(order, *levels)
        return order

    def _bracket_levels(
        self,
        payload: dict[str, Any],
        order_class: Any,
        side: str,
        time_in_force: str,
        asset: Asset,
        limit_price: Decimal | None,
    ) -> tuple[Decimal | None, Decimal | None] | JSONResponse | None:
        """(take-profit limit, stop-loss stop) of a bracket (both) or an OTO (one), checked as Alpaca
        checks them against the base price (the entry's limit, else the last price); None for a
        simple order."""
        if order_class == "simple":
            return None
        if order_class not in ("bracket", "oto"):
            return _error(422, 40010001, f"order_class {order_class} is not emulated")
        if time_in_force not in ("day", "gtc"):
            return _error(422, 40010001, f"{order_class} orders must be day or gtc")
        take_profit, stop_loss = payload.get("take_profit"), payload.get("stop_loss")
        target = _decimal(take_profit.get("limit_price")) if isinstance(take_profit, dict) else None
        stop = _decimal(stop_loss.get("stop_price")) if isinstance(stop_loss, dict) else None
        if order_class == "bracket" and (target is None or stop is None):
            return _error(
                422, 40010001, "bracket orders require take_profit.limit_price and stop_loss.stop_price"
            )
        if order_class == "oto" and (target is None) == (stop is None):
            return _error(422, 40010001, "oto orders require exactly one of take_profit or stop_loss")
        base = limit_price or self._state.prices.get(asset.symbol)
        if base is not None:
            cent = Decimal("0.01")
            if side == "buy" and target is not None and target < base + cent:
                return _error(422, 42210000, f"take_profit.limit_price must be >= base_price + 0.01 ({base})")
            if side == "buy" and stop is not None and stop > base - cent:
                return _error(422, 42210000, f"stop_loss.stop_price must be <= base_price - 0.01 ({base})")
            if side == "sell" and target is not None and target > base - cent:
                return _error(422, 42210000, f"take_profit.limit_price must be <= base_price - 0.01 ({base})")
            if side == "sell" and stop is not None and stop < base + cent:
                return _error(422, 42210000, f"stop_loss.stop_price must be >= base_price + 0.01 ({base})")
        return target, stop

    def _add_legs(self, entry: _Order, target: Decimal | None, stop: Decimal | None) -> None:
        """The take-profit limit and the stop-loss stop (an OTO: the one given), held until the
        entry fills."""
        exit_side = "sell" if entry.side == "buy" else "buy"
        for leg_type, limit_price, stop_price in (("limit", target, None), ("stop", None, stop)):
            if limit_price is None and stop_price is None:
                continue
            sequence = self._next()
            leg = _Order(
                id=uuid.uuid5(_NAMESPACE, f"order:{sequence}"),
                sequence=sequence,
                client_order_id=str(uuid.uuid5(_NAMESPACE, f"coid:{sequence}")),
                asset=entry.asset,
                side=exit_side,
                type=leg_type,
                time_in_force=entry.time_in_force,
                qty=entry.qty,
                notional=None,
                limit_price=limit_price,
                stop_price=stop_price,
                trail_price=None,
                trail_percent=None,
                extended_hours=False,
                position_intent="sell_to_close" if exit_side == "sell" else "buy_to_close",
                status="held",
                created_at=self._now,
                order_class=entry.order_class,
                parent_id=entry.id,
            )
            self._state.orders[leg.id] = leg
            entry.legs.append(leg.id)

    def _nested_json(self, order: _Order) -> dict[str, Any]:
        """The order with its legs nested (Alpaca's answer to a submission, or with `nested`)."""
        body = order.as_json()
        if order.legs:
            body["legs"] = [self._state.orders[leg_id].as_json() for leg_id in order.legs]
        return body

    def _sibling(self, leg: _Order) -> _Order | None:
        if leg.parent_id is None:
            return None
        parent = self._state.orders[leg.parent_id]
        return next((self._state.orders[i] for i in parent.legs if i != leg.id), None)

    def _next(self) -> int:
        self._state.sequence += 1
        return self._state.sequence

    def _market_open(self) -> bool:
        import pandas as pd

        return bool(_xnys().is_open_on_minute(pd.Timestamp(self._now).floor("min")))

    def _intent(self, symbol: str, side: str) -> str:
        held = self._state.positions.get(symbol)
        qty = held.qty if held else Decimal(0)
        if side == "buy":
            return "buy_to_close" if qty < 0 else "buy_to_open"
        return "sell_to_close" if qty > 0 else "sell_to_open"

    def _held_for_orders(self, symbol: str, side: str) -> Decimal:
        held = Decimal(0)
        for order in self._state.orders.values():
            if (
                order.is_open
                and order.asset.symbol == symbol
                and order.side == side
                and order.qty is not None
                # A bracket's two exits share the quantity they protect: counted once.
                and not (order.parent_id is not None and order.type == "limit")
            ):
                held += order.qty - order.filled_qty
        return held

    def _check_sell_quantity(
        self, asset: Asset, side: str, qty: Decimal | None, notional: Decimal | None, price: Decimal | None
    ) -> JSONResponse | None:
        if side != "sell":
            return None
        requested = qty if qty is not None else (notional / price if notional is not None and price else None)
        if requested is None:
            return None
        position = self._state.positions.get(asset.symbol)
        existing = position.qty if position and position.qty > 0 else Decimal(0)
        held = self._held_for_orders(asset.symbol, "sell")
        available = max(existing - held, Decimal(0))
        if requested <= available:
            return None
        if existing > 0 or held > 0:
            return _error(
                403,
                40310000,
                f"insufficient qty available for order (requested: {_text(requested)}, "
                f"available: {_text(available)})",
                available=_text(available),
                existing_qty=_text(existing),
                held_for_orders=_text(held),
                symbol=asset.symbol,
            )
        if not self.shorting_enabled or not asset.shortable:
            return _error(403, 40310000, "account is not allowed to short")
        return None

    async def _list_orders(self, request: Request) -> Response:
        params = request.query_params
        status = params.get("status", "open")
        if status not in ("open", "closed", "all"):
            return _error(422, 40010001, "status must be one of open, closed, all")
        try:
            limit = int(params.get("limit", "50"))
        except ValueError:
            return _error(422, 40010001, "limit must be an integer")
        limit = max(1, min(limit, 500))
        after = _parse_time(params["after"]) if "after" in params else None
        until = _parse_time(params["until"]) if "until" in params else None
        symbols = {s.strip().upper() for s in params["symbols"].split(",")} if params.get("symbols") else None
        side = params.get("side")
        nested = _is_true(params.get("nested"))
        with self._lock:

            def is_open(order: _Order) -> bool:
                # Nested, an entry whose legs still work is listed open, with them.
                legs = [self._state.orders[i] for i in order.legs] if nested else []
                return order.is_open or any(leg.is_open for leg in legs)

            orders = [
                order
                for order in self._state.orders.values()
                if not (nested and order.parent_id is not None)
                and (status == "all" or (status == "open") == is_open(order))
                and (after is None or order.created_at > after)
                and (until is None or order.created_at < until)
                and (symbols is None or order.asset.symbol in symbols)
                and (side is None or order.side == side)
            ]
            orders.sort(
                key=lambda o: (o.created_at, o.sequence), reverse=params.get("direction", "desc") == "desc"
            )
            body = [self._nested_json(o) if nested else o.as_json() for o in orders[:limit]]
        return JSONResponse(body)

    def _order_or_404(self, raw_id: str) -> _Order | JSONResponse:
        try:
            order_id = uuid.UUID(raw_id)
        except ValueError:
            return _error(422, 40010001, "order_id is missing")
        order = self._state.orders.get(order_id)
        if order is None:
            return _error(404, 40410000, f"order not found for {raw_id}")
        return order

    async def _get_order(self, request: Request) -> Response:
        with self._lock:
            found = self._order_or_404(request.path_params["order_id"])
            if isinstance(found, Response):
                return found
            nested = _is_true(request.query_params.get("nested"))
            return JSONResponse(self._nested_json(found) if nested else found.as_json())

    async def _order_by_client_id(self, request: Request) -> Response:
        client_order_id = request.query_params.get("client_order_id", "")
        with self._lock:
            order = next(
                (o for o in self._state.orders.values() if o.client_order_id == client_order_id), None
            )
            if order is None:
                return _error(404, 40410000, f"order not found for {client_order_id}")
            return JSONResponse(self._nested_json(order))

    def _cancel(self, order: _Order) -> None:
        order.status = "canceled"
        order.canceled_at = self._now
        order.updated_at = self._now
        self._announce(order, "canceled")
        for leg_id in order.legs:
            leg = self._state.orders[leg_id]
            if leg.is_open:  # a bracket's exits go with their entry
                self._cancel(leg)

    async def _cancel_order(self, request: Request) -> Response:
        with self._lock:
            found = self._order_or_404(request.path_params["order_id"])
            if isinstance(found, Response):
                return found
            if not found.is_open:
                return _error(422, 42210000, f'order is already in "{found.status}" state')
            self._cancel(found)
        return Response(status_code=204)

    async def _cancel_all_orders(self, request: Request) -> Response:
        with self._lock:
            body = []
            for order in sorted(self._state.orders.values(), key=lambda o: o.sequence):
                if order.is_open:
                    self._cancel(order)
                    body.append({"id": str(order.id), "status": 200})
                    body.extend({"id": str(leg_id), "status": 200} for leg_id in order.legs)
        return JSONResponse(body, status_code=207)

    # ================================================================== positions

    async def _list_positions(self, request: Request) -> Response:
        with self._lock:
            body = [self._position_values(p) for _, p in sorted(self._state.positions.items())]
        return JSONResponse(body)

    def _position_or_404(self, symbol_or_id: str) -> _Position | JSONResponse:
        asset = self._find_asset(symbol_or_id)
        position = self._state.positions.get(asset.symbol) if asset else None
        if position is None:
            return _error(404, 40410000, "position does not exist")
        return position

    async def _get_position(self, request: Request) -> Response:
        with self._lock:
            found = self._position_or_404(request.path_params["symbol_or_id"])
            return found if isinstance(found, Response) else JSONResponse(self._position_values(found))

    def _closing_order(self, position: _Position, qty: Decimal) -> _Order | JSONResponse:
        side = "sell" if position.qty > 0 else "buy"
        return self._create_order(
            {
                "symbol": position.asset.symbol,
                "qty": str(qty),
                "side": side,
                "type": "market",
                "time_in_force": "day",
                "position_intent": "sell_to_close" if side == "sell" else "buy_to_close",
            }
        )

    async def _close_position(self, request: Request) -> Response:
        params = request.query_params
        with self._lock:
            found = self._position_or_404(request.path_params["symbol_or_id"])
            if isinstance(found, Response):
                return found
            size = abs(found.qty)
            if "qty" in params and "percentage" in params:
                return _error(422, 40010001, "only one of qty or percentage may be specified")
            if "qty" in params:
                requested = _decimal(params["qty"])
                if requested is None or requested <= 0:
                    return _error(422, 40010001, "qty must be a positive number")
                size = requested
            elif "percentage" in params:
                percentage = _decimal(params["percentage"])
                if percentage is None or not 0 < percentage <= 100:
                    return _error(422, 40010001, "percentage must be between 0 and 100")
                size = (abs(found.qty) * percentage / 100).quantize(
                    Decimal("0.000000001"), rounding=ROUND_DOWN
                )
            created = self._closing_order(found, size)
            if isinstance(created, Response):
                return created
            body = created.as_json()
        response = JSONResponse(body)
        self._after_response()
        return response

    async def _close_all_positions(self, request: Request) -> Response:
        with self._lock:
            if _is_true(request.query_params.get("cancel_orders")):
                for order in self._state.orders.values():
                    if order.is_open:
                        self._cancel(order)
            body: list[dict[str, Any]] = []
            for symbol, position in sorted(self._state.positions.items()):
                failure = self._state.close_failures.get(symbol)
                if failure is not None:
                    body.append({"symbol": symbol, "status": failure[0], "body": failure[1]})
                    continue
                created = self._closing_order(position, abs(position.qty))
                if isinstance(created, JSONResponse):
                    body.append({"symbol": symbol, "status": created.status_code, "body": _json_of(created)})
                else:
                    body.append({"symbol": symbol, "status": 200, "body": created.as_json()})
        response = JSONResponse(body, status_code=207)
        self._after_response()
        return response

    # ================================================================== matching

    def _track_high_water_mark(self, order: _Order, price: Decimal) -> None:
        if order.hwm is None:
            order.hwm = price
        elif order.side == "sell":
            order.hwm = max(order.hwm, price)
        else:
            order.hwm = min(order.hwm, price)
        assert order.hwm is not None
        if order.trail_price is not None:
            offset = order.trail_price
        else:
            assert order.trail_percent is not None
            offset = order.hwm * order.trail_percent / 100
        order.stop_price = order.hwm - offset if order.side == "sell" else order.hwm + offset

    def _executable(self, order: _Order, price: Decimal) -> bool:
        buy = order.side == "buy"
        if order.type == "trailing_stop":
            self._track_high_water_mark(order, price)
        if order.type in ("stop", "stop_limit", "trailing_stop") and not order.triggered:
            assert order.stop_price is not None
            order.triggered = price >= order.stop_price if buy else price <= order.stop_price
            if not order.triggered:
                return False
        if order.type in ("limit", "stop_limit"):
            assert order.limit_price is not None
            return price <= order.limit_price if buy else price >= order.limit_price
        return True

    def _match(self, order: _Order) -> Fill | None:
        price = self._state.prices.get(order.asset.symbol)
        if price is None or order.status == "held":
            return None  # a bracket's leg waits for its entry's fill
        if not self._executable(order, price):
            if order.time_in_force in ("ioc", "fok"):
                self._cancel(order)
            return None
        remaining = order.remaining_qty(price)
        cap = self._state.liquidity.get(order.asset.symbol)
        qty = remaining if cap is None else min(remaining, cap)
        if qty <= 0 or (order.time_in_force == "fok" and qty < remaining):
            if order.time_in_force in ("ioc", "fok"):
                self._cancel(order)
            return None
        self._apply_fill(order, qty, price)
        # An ioc order's unfilled rest is canceled at once, after the fill is announced.
        cancel_rest = order.status == "partially_filled" and order.time_in_force == "ioc"
        fill = Fill(
            order_id=order.id,
            symbol=order.asset.symbol,
            side=order.side,
            qty=qty,
            price=price,
            filled_at=self._now,
            cumulative_qty=order.filled_qty,
            leaves_qty=Decimal(0) if cancel_rest else order.remaining_qty(price),
            order_status="canceled" if cancel_rest else order.status,
        )
        self._state.fills.append(fill)
        self._announce_fill(order, fill, number=len(self._state.fills) - 1)
        if cancel_rest:
            self._cancel(order)
        return fill

    def _apply_fill(self, order: _Order, qty: Decimal, price: Decimal) -> None:
        order.filled_qty += qty
        order.filled_notional += qty * price
        done = order.remaining_qty(price) <= 0
        order.status = "filled" if done else "partially_filled"
        order.updated_at = self._now
        if done:
            order.filled_at = self._now
            self._release_or_cancel_legs(order)
        signed = qty if order.side == "buy" else -qty
        self._cash -= signed * price
        position = self._state.positions.get(order.asset.symbol)
        if position is None:
            self._state.positions[order.asset.symbol] = _Position(order.asset, signed, price)
            return
        new_qty = position.qty + signed
        if new_qty == 0:
            del self._state.positions[order.asset.symbol]
        elif (position.qty > 0) == (signed > 0):
            position.avg_entry_price = (
                (abs(position.qty) * position.avg_entry_price + qty * price) / abs(new_qty)
            ).quantize(Decimal("0.000000001"))
            position.qty = new_qty
        elif (position.qty > 0) != (new_qty > 0):
            position.qty, position.avg_entry_price = new_qty, price
        else:
            position.qty = new_qty

    def _release_or_cancel_legs(self, order: _Order) -> None:
        """An entry filled: its legs start working. A leg filled: its sibling is canceled."""
        for leg_id in order.legs:
            leg = self._state.orders[leg_id]
            if leg.status == "held":
                leg.status, leg.updated_at = "new", self._now
                self._announce(leg, "new")
        sibling = self._sibling(order)
        if sibling is not None and sibling.is_open:
            self._cancel(sibling)

    async def _activities(self, request: Request) -> Response:
        """FILL activities: `after`/`until` (transaction time, exclusive), `direction` (desc by
        default), pages of `page_size` (default and most 100) continued by `page_token` (the last
        id of the page before), as the spec describes."""
        params = request.query_params
        kind = request.path_params.get("activity_type") or params.get("activity_types", "FILL")
        if "FILL" not in kind.upper().split(","):
            return JSONResponse([])
        after = _parse_time(params["after"]) if params.get("after") else None
        until = _parse_time(params["until"]) if params.get("until") else None
        try:
            page_size = min(max(int(params.get("page_size", "100")), 1), 100)
        except ValueError:
            return _error(422, 40010001, "page_size must be an integer")
        with self._lock:
            fills = [
                (n, fill)
                for n, fill in enumerate(self._state.fills)
                if (after is None or fill.filled_at > after) and (until is None or fill.filled_at < until)
            ]
        if params.get("direction", "desc") == "desc":
            fills.reverse()
        body = [_fill_activity(fill, n) for n, fill in fills]
        token = params.get("page_token")
        if token:
            position = next((i for i, item in enumerate(body) if item["id"] == token), None)
            if position is None:
                return _error(422, 40010001, "invalid page_token")
            body = body[position + 1 :]
        return JSONResponse(body[:page_size])

    # ================================================================== market data

    def _feed(self, request: Request) -> str | JSONResponse:
        feed = request.query_params.get("feed", "sip" if self.sip_allowed else "iex").lower()
        if feed not in FEEDS:
            return JSONResponse({"message": f"invalid feed: {feed}"}, status_code=400)
        if feed == "sip" and not self.sip_allowed:
            return JSONResponse(
                {"message": "subscription does not permit querying recent SIP data"}, status_code=403
            )
        return feed

    def _series(self, symbol: str, timeframe: str, feed: str) -> dict[datetime, DataBar]:
        series = self._state.bars.get((symbol, timeframe, feed))
        return dict(series if series is not None else self._state.bars.get((symbol, timeframe, None), {}))

    def _bar_page(
        self, request: Request, symbols: list[str]
    ) -> tuple[dict[str, list[dict[str, Any]]], str | None] | JSONResponse:
        params = request.query_params
        feed = self._feed(request)
        if isinstance(feed, JSONResponse):
            return feed
        timeframe = params.get("timeframe", "")
        if not _valid_timeframe(timeframe):
            return JSONResponse({"message": f"invalid timeframe: {timeframe!r}"}, status_code=422)
        try:
            limit = int(params.get("limit") or 1000)
        except ValueError:
            return JSONResponse({"message": "invalid limit"}, status_code=422)
        if not 1 <= limit <= 10_000:
            return JSONResponse({"message": "limit must be between 1 and 10000"}, status_code=422)
        now = self.now
        local_now = now.astimezone(NEW_YORK)
        start = (
            _parse_time(params["start"])
            if params.get("start")
            else local_now.replace(hour=0, minute=0, second=0)
        )
        end = _parse_time(params["end"]) if params.get("end") else now
        if start is None or end is None:
            return JSONResponse({"message": "invalid start or end"}, status_code=422)
        adjustment = params.get("adjustment", "raw").lower()
        if adjustment not in ADJUSTMENTS:
            return JSONResponse({"message": f"invalid adjustment: {adjustment}"}, status_code=422)
        with self._lock:
            refused = (
                self._state.adjusted_refusals.pop(0)
                if adjustment != "raw" and self._state.adjusted_refusals
                else None
            )
        if refused is not None:
            return JSONResponse(self._default_error_body(refused), status_code=refused)
        descending = params.get("sort", "asc") == "desc"
        items: list[tuple[str, DataBar]] = []
        with self._lock:
            for symbol in sorted(set(symbols)):
                series = self._adjusted(symbol, self._series(symbol, timeframe, feed), adjustment)
                chosen = sorted((at for at in series if start <= at <= end), reverse=descending)
                items.extend((symbol, series[at]) for at in chosen)
        token = params.get("page_token")
        if token:
            position = next((i for i, (s, bar) in enumerate(items) if _page_token(s, bar.at) == token), None)
            if position is None:
                return JSONResponse({"message": "invalid page token"}, status_code=422)
            items = items[position + 1 :]
        size = min(limit, self.bars_page_size)
        page, rest = items[:size], items[size:]
        grouped: dict[str, list[dict[str, Any]]] = {}
        for symbol, bar in page:
            grouped.setdefault(symbol, []).append(bar.as_json())
        next_token = _page_token(page[-1][0], page[-1][1].at) if rest and page else None
        return grouped, next_token

    def _adjusted(
        self, symbol: str, series: dict[datetime, DataBar], adjustment: str
    ) -> dict[datetime, DataBar]:
        """The raw series as served with `adjustment` (see the module header for the arithmetic)."""
        if adjustment == "raw":
            return series
        ordered = sorted(series)
        splits = self._state.splits.get(symbol, []) if adjustment in ("split", "all") else []
        dividend_factors: list[tuple[date, Decimal]] = []
        if adjustment in ("dividend", "all"):
            for ex_date, amount in self._state.dividends.get(symbol, []):
                before = [series[at].close for at in ordered if at.astimezone(NEW_YORK).date() < ex_date]
                if before and before[-1] > amount:
                    dividend_factors.append((ex_date, 1 - amount / before[-1]))
        result: dict[datetime, DataBar] = {}
        for at in ordered:
            day = at.astimezone(NEW_YORK).date()
            price, volume = Decimal(1), Decimal(1)
            for on_date, ratio in splits:
                if day < on_date:
                    price /= ratio
                    volume *= ratio
            for ex_date, factor in dividend_factors:
                if day < ex_date:
                    price *= factor
            result[at] = _scaled_bar(series[at], price, volume)
        return result

    async def _multi_bars(self, request: Request) -> Response:
        symbols = _symbols(request)
        if not symbols:
            return JSONResponse({"message": "missing symbols"}, status_code=400)
        page = self._bar_page(request, symbols)
        if isinstance(page, JSONResponse):
            return page
        bars, token = page
        return JSONResponse({"bars": bars, "next_page_token": token})

    async def _single_bars(self, request: Request) -> Response:
        symbol = request.path_params["symbol"].upper()
        page = self._bar_page(request, [symbol])
        if isinstance(page, JSONResponse):
            return page
        bars, token = page
        return JSONResponse({"bars": bars.get(symbol), "symbol": symbol, "next_page_token": token})

    def _latest_bar_of(self, symbol: str, feed: str) -> dict[str, Any] | None:
        series = self._series(symbol, "1Min", feed)
        return series[max(series)].as_json() if series else None

    def _latest_of(self, table: dict[tuple[str, str | None], dict[str, Any]], symbol: str, feed: str) -> Any:
        return table.get((symbol, feed)) or table.get((symbol, None))

    async def _latest_bars(self, request: Request) -> Response:
        feed = self._feed(request)
        if isinstance(feed, JSONResponse):
            return feed
        with self._lock:
            found = {s: self._latest_bar_of(s, feed) for s in _symbols(request)}
        return JSONResponse({"bars": {s: bar for s, bar in found.items() if bar is not None}})

    async def _latest_quotes(self, request: Request) -> Response:
        feed = self._feed(request)
        if isinstance(feed, JSONResponse):
            return feed
        with self._lock:
            found = {s: self._latest_of(self._state.quotes, s, feed) for s in _symbols(request)}
        return JSONResponse({"quotes": {s: q for s, q in found.items() if q is not None}})

    async def _latest_trades(self, request: Request) -> Response:
        feed = self._feed(request)
        if isinstance(feed, JSONResponse):
            return feed
        with self._lock:
            found = {s: self._latest_of(self._state.trades, s, feed) for s in _symbols(request)}
        return JSONResponse({"trades": {s: t for s, t in found.items() if t is not None}})

    async def _single_latest(self, request: Request, key: str) -> Response:
        feed = self._feed(request)
        if isinstance(feed, JSONResponse):
            return feed
        symbol = request.path_params["symbol"].upper()
        with self._lock:
            if key == "bar":
                found = self._latest_bar_of(symbol, feed)
            else:
                found = self._latest_of(
                    self._state.quotes if key == "quote" else self._state.trades, symbol, feed
                )
        if found is None:
            return JSONResponse({"message": f"no {key} found for {symbol}"}, status_code=404)
        return JSONResponse({"symbol": symbol, key: found})

    async def _single_latest_bar(self, request: Request) -> Response:
        return await self._single_latest(request, "bar")

    async def _single_latest_quote(self, request: Request) -> Response:
        return await self._single_latest(request, "quote")

    async def _single_latest_trade(self, request: Request) -> Response:
        return await self._single_latest(request, "trade")


def _scaled_bar(bar: DataBar, price: Decimal, volume: Decimal) -> DataBar:
    if price == 1 and volume == 1:
        return bar

    def scale(value: Decimal) -> Decimal:
        return (value * price).quantize(ADJUSTED_QUANTUM, rounding=ROUND_HALF_EVEN)

    return DataBar(
        at=bar.at,
        open=scale(bar.open),
        high=scale(bar.high),
        low=scale(bar.low),
        close=scale(bar.close),
        volume=int((bar.volume * volume).to_integral_value(rounding=ROUND_HALF_EVEN)),
        trade_count=bar.trade_count,
        vwap=scale(bar.vwap) if bar.vwap is not None else None,
    )


def _fill_activity(fill: Fill, number: int) -> dict[str, Any]:
    return {
        "id": _activity_id(fill.filled_at, number),
        "activity_type": "FILL",
        "transaction_time": _stamp(fill.filled_at),
        "type": "fill" if fill.order_status == "filled" else "partial_fill",
        "price": _text(fill.price),
        "qty": _text(fill.qty),
        "side": fill.side,
        "symbol": fill.symbol,
        "leaves_qty": _text(fill.leaves_qty),
        "order_id": str(fill.order_id),
        "cum_qty": _text(fill.cumulative_qty),
        "order_status": fill.order_status,
    }


def _activity_id(at: datetime, number: int) -> str:
    """Alpaca's "<yyyymmddhhmmssmmm>::<uuid>" activity id (spec example)."""
    return f"{at.strftime('%Y%m%d%H%M%S%f')[:17]}::{uuid.uuid5(_NAMESPACE, f'fill:{number}')}"


def _symbols(request: Request) -> list[str]:
    return [s.strip().upper() for s in request.query_params.get("symbols", "").split(",") if s.strip()]


def _valid_timeframe(text: str) -> bool:
    for unit, most in (("Min", 59), ("T", 59), ("Hour", 23), ("H", 23), ("Day", 1), ("D", 1)):
        amount = text.removesuffix(unit)
        if amount != text and amount.isdigit() and 1 <= int(amount) <= most:
            return True
    return text in ("1Week", "1W") or any(text == f"{n}Month" or text == f"{n}M" for n in (1, 2, 3, 4, 6, 12))


def _page_token(symbol: str, at: datetime) -> str:
    """Alpaca's own shape: base64 of "SYMBOL|D|2022-02-02T05:00:00.000000000Z" (see the bars fixture)."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return base64.b64encode(f"{symbol}|D|{stamp}".encode()).decode()


def _json_of(response: JSONResponse) -> dict[str, Any]:
    import json

    loaded: dict[str, Any] = json.loads(bytes(response.body))
    return loaded


def minute_bars(start: datetime, closes: Iterable[Decimal], *, volume: int = 1000) -> list[DataBar]:
    """Consecutive one-minute bars from `start`; each opens at the previous close."""
    rows: list[DataBar] = []
    previous: Decimal | None = None
    for index, close in enumerate(closes):
        opened = previous if previous is not None else close
        rows.append(
            DataBar(
                at=start + timedelta(minutes=index),
                open=opened,
                high=max(opened, close) + Decimal("0.05"),
                low=min(opened, close) - Decimal("0.05"),
                close=close,
                volume=volume + index,
                trade_count=10 + index,
                vwap=(opened + close) / 2,
            )
        )
        previous = close
    return rows


def paper_account_settings(
    rest: AlpacaEmulator, rest_server: EmulatorServer, stream_server: EmulatorServer | None
) -> dict[str, str]:
    """The settings of a system that trades and collects through Alpaca, all of it served by these
    emulators on loopback: REST (trading and data) and the trade_updates stream on `rest_server`,
    the market-data stream on `stream_server` (None: the collector polls REST only)."""
    settings = {
        "BROKER": "alpaca",
        "MARKET_DATA_SOURCE": "alpaca",
        "ALPACA_API_KEY": rest.api_key,
        "ALPACA_SECRET_KEY": rest.secret_key,
        "ALPACA_BASE_URL": rest_server.base_url,
        "ALPACA_DATA_URL": rest_server.base_url,
        "ALPACA_TRADING_STREAM_URL": f"ws://127.0.0.1:{rest_server.port}/stream",
    }
    if stream_server is None:
        return {**settings, "DATA_STREAM_ENABLED": "false"}
    return {
        **settings,
        "ALPACA_DATA_STREAM_URL": f"ws://127.0.0.1:{stream_server.port}",
        "DATA_STREAM_ENABLED": "true",
    }
