"""Alpaca as a `trader.core.broker.Broker`, through alpaca-py's `TradingClient`.

alpaca-py is synchronous (requests); each call runs in a worker thread. Three things the SDK
does by default are unsafe for orders and are switched off here:

- it retries 429/504 by itself, three times, re-POSTing an order it may already have created
  (its constructor ignores `retry_attempts=0`, so the attribute is set directly);
- it sends requests with no timeout, so a broker that never answers blocks a thread forever
  (a timeout adapter is mounted on its session);
- it answers `Model | dict`; raw JSON is asked for and mapped here, field by field.

Errors become the port's error classes, so the executor knows whether to look the order up,
never retry, or retry later.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass as AlpacaOrderClass
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.enums import TimeInForce as AlpacaTimeInForce
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)
from alpaca.trading.requests import OrderRequest as AlpacaOrderRequest

from trader.adapters.http_timeouts import apply_timeout
from trader.core.broker import (
    BrokerAccount,
    BrokerAsset,
    BrokerAuthenticationError,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    BrokerUnavailableError,
    CancelResult,
    CloseResult,
    DuplicateClientOrderIdError,
    InvalidAccountError,
    MarketClock,
    OrderClass,
    OrderNotCancelableError,
    OrderNotFoundError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderRequest,
)
from trader.core.money import to_decimal
from trader.core.orders import OrderSide, OrderType, TimeInForce, status_from_broker

PAPER_URL = "https://paper-api.alpaca.markets"
_PAGE = 500
T = TypeVar("T")


def _decimal(raw: Any) -> Decimal | None:
    return None if raw is None or raw == "" else to_decimal(str(raw))


def _time(raw: Any) -> datetime | None:
    if not raw:
        return None
    parsed = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _error_body(error: APIError) -> tuple[int | None, str]:
    try:
        body = json.loads(str(error))
    except ValueError:
        return None, str(error)
    if isinstance(body, dict):
        code = body.get("code")
        return (int(code) if isinstance(code, int) else None), str(body.get("message", body))
    return None, str(body)


def order_from_json(raw: dict[str, Any], *, parent_broker_order_id: str | None = None) -> BrokerOrder:
    """An order answer; the legs Alpaca nests under a bracket (`legs`, asked for with `nested`)
    each name it as their parent."""
    order_type = raw.get("type") or raw.get("order_type") or "market"
    order_class = raw.get("order_class") or "simple"
    legs = raw.get("legs") or []
    return BrokerOrder(
        broker_order_id=str(raw["id"]),
        client_order_id=str(raw["client_order_id"]),
        symbol=str(raw["symbol"]),
        side=OrderSide(str(raw["side"])),
        quantity=_decimal(raw.get("qty")) or Decimal(0),
        order_type=OrderType(str(order_type)),
        time_in_force=TimeInForce(str(raw["time_in_force"])),
        status=status_from_broker(str(raw["status"])),
        broker_status=str(raw["status"]),
        filled_quantity=_decimal(raw.get("filled_qty")) or Decimal(0),
        average_fill_price=_decimal(raw.get("filled_avg_price")),
        limit_price=_decimal(raw.get("limit_price")),
        stop_price=_decimal(raw.get("stop_price")),
        order_class=OrderClass(order_class)
        if order_class in OrderClass._value2member_map_
        else OrderClass.SIMPLE,
        submitted_at=_time(raw.get("submitted_at")),
        updated_at=_time(raw.get("updated_at")),
        filled_at=_time(raw.get("filled_at")),
        canceled_at=_time(raw.get("canceled_at")),
        parent_broker_order_id=parent_broker_order_id,
        legs=tuple(
            order_from_json(leg, parent_broker_order_id=str(raw["id"]))
            for leg in legs
            if isinstance(leg, dict)
        ),
    )


def _with_legs(orders: Sequence[BrokerOrder]) -> list[BrokerOrder]:
    """Orders and, after each, the legs nested under it (a listing asked for `nested`)."""
    flat: list[BrokerOrder] = []
    for order in orders:
        flat.append(order)
        flat.extend(order.legs)
    return flat


# What risk sizes and breaks on: an answer without one of them is refused, never guessed at.
ACCOUNT_AMOUNTS = ("cash", "equity", "buying_power", "last_equity", "long_market_value", "short_market_value")


def account_from_json(raw: dict[str, Any]) -> BrokerAccount:
    """The account answer, field by field; a missing or non-numeric amount, or no day-trade
    figures, raise InvalidAccountError naming every such field."""
    amounts: dict[str, Decimal] = {}
    problems: list[str] = []
    for name in ACCOUNT_AMOUNTS:
        try:
            value = _decimal(raw.get(name))
        except (ValueError, ArithmeticError):
            value = None
        if value is None:
            problems.append(f"{name}={raw.get(name)!r}")
        else:
            amounts[name] = value
    daytrades = raw.get("daytrade_count")
    if isinstance(daytrades, bool) or not isinstance(daytrades, int) or daytrades < 0:
        problems.append(f"daytrade_count={daytrades!r}")
        daytrades = 0
    if not isinstance(raw.get("pattern_day_trader"), bool):
        problems.append(f"pattern_day_trader={raw.get('pattern_day_trader')!r}")
    if problems:
        raise InvalidAccountError(f"the broker's account answer is unusable: {', '.join(problems)}")
    return BrokerAccount(
        status=str(raw.get("status")),
        currency=str(raw.get("currency") or "USD"),
        cash=amounts["cash"],
        equity=amounts["equity"],
        buying_power=amounts["buying_power"],
        trading_blocked=bool(raw.get("trading_blocked") or raw.get("account_blocked")),
        long_market_value=amounts["long_market_value"],
        short_market_value=amounts["short_market_value"],
        last_equity=amounts["last_equity"],
        pattern_day_trader=bool(raw["pattern_day_trader"]),
        daytrade_count=int(daytrades),
        shorting_enabled=bool(raw.get("shorting_enabled")),
        multiplier=_decimal(raw.get("multiplier")) or Decimal(1),
    )


def _alpaca_request(request: OrderRequest) -> AlpacaOrderRequest:
    common: dict[str, Any] = {
        "symbol": request.symbol,
        "qty": float(request.quantity),
        "side": AlpacaSide(request.side.value),
        "time_in_force": AlpacaTimeInForce(request.time_in_force.value),
        "client_order_id": request.client_order_id,
    }
    if request.order_class is OrderClass.BRACKET:
        common["order_class"] = AlpacaOrderClass.BRACKET
        common["take_profit"] = TakeProfitRequest(limit_price=float(request.take_profit_price or 0))
        common["stop_loss"] = StopLossRequest(stop_price=float(request.stop_loss_price or 0))
    elif request.order_class is OrderClass.OCO:
        common["order_class"] = AlpacaOrderClass.OCO
        common["take_profit"] = TakeProfitRequest(limit_price=float(request.take_profit_price or 0))
        common["stop_loss"] = StopLossRequest(stop_price=float(request.stop_loss_price or 0))
    elif request.order_class is OrderClass.OTO:
        common["order_class"] = AlpacaOrderClass.OTO
        if request.take_profit_price is not None:
            common["take_profit"] = TakeProfitRequest(limit_price=float(request.take_profit_price))
        if request.stop_loss_price is not None:
            common["stop_loss"] = StopLossRequest(stop_price=float(request.stop_loss_price))
    kind = request.order_type
    if kind is OrderType.MARKET:
        return MarketOrderRequest(**common)
    if kind is OrderType.LIMIT:
        return LimitOrderRequest(**common, limit_price=float(request.limit_price or 0))
    if kind is OrderType.STOP:
        return StopOrderRequest(**common, stop_price=float(request.stop_price or 0))
    if kind is OrderType.STOP_LIMIT:
        return StopLimitOrderRequest(
            **common, limit_price=float(request.limit_price or 0), stop_price=float(request.stop_price or 0)
        )
    if request.trail_percent is not None:
        return TrailingStopOrderRequest(**common, trail_percent=float(request.trail_percent))
    return TrailingStopOrderRequest(**common, trail_price=float(request.trail_price or 0))


class AlpacaBroker:
    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        base_url: str = PAPER_URL,
        connect_timeout_seconds: float = 3.0,
        read_timeout_seconds: float = 10.0,
    ) -> None:
        self._client = TradingClient(
            api_key, secret_key, paper="paper" in base_url, raw_data=True, url_override=base_url.rstrip("/")
        )
        # A retry of an order POST can double an order; the executor decides what to retry.
        self._client._retry = 0
        apply_timeout(self._client._session, (connect_timeout_seconds, read_timeout_seconds))
        self.base_url = base_url

    @property
    def name(self) -> str:
        return "alpaca"

    async def _read(self, call: Callable[[], T], what: str) -> T:
        try:
            return await asyncio.to_thread(call)
        except APIError as error:
            raise _read_error(error, what) from error
        except requests.RequestException as error:
            raise BrokerUnavailableError(f"{what}: {type(error).__name__}: {error}") from error

    # ------------------------------------------------------------------ orders

    async def submit_order(self, request: OrderRequest) -> BrokerOrder:
        problems = request.problems()
        if problems:
            raise OrderRejectedError("; ".join(problems), status_code=422)
        payload = _alpaca_request(request)
        try:
            raw = await asyncio.to_thread(self._client.submit_order, payload)
        except requests.RequestException as error:
            raise OrderOutcomeUnknownError(
                f"no answer to order {request.client_order_id}: {type(error).__name__}"
            ) from error
        except APIError as error:
            status = error.status_code
            _code, message = _error_body(error)
            if status == 401:
                raise BrokerAuthenticationError(message, status_code=status) from error
            if status == 429 or (status is not None and status >= 500):
                retry_after = 1.0 if status == 429 else 0.0
                raise OrderOutcomeUnknownError(
                    f"broker answered {status} to order {request.client_order_id}: {message}",
                    status_code=status,
                    retry_after_seconds=retry_after,
                ) from error
            if status == 422 and "client_order_id must be unique" in message:
                raise DuplicateClientOrderIdError(message, status_code=status) from error
            raise OrderRejectedError(message, status_code=status) from error
        return order_from_json(_as_dict(raw))

    async def get_order(self, broker_order_id: str) -> BrokerOrder:
        nested = GetOrderByIdRequest(nested=True)
        raw = await self._read(
            lambda: self._client.get_order_by_id(broker_order_id, filter=nested), "get order"
        )
        return order_from_json(_as_dict(raw))

    async def find_order(self, client_order_id: str) -> BrokerOrder | None:
        try:
            raw = await self._read(
                lambda: self._client.get_order_by_client_id(client_order_id), "find order by client id"
            )
        except OrderNotFoundError:
            return None
        return order_from_json(_as_dict(raw))

    async def list_orders(
        self, *, open_only: bool = False, since: datetime | None = None
    ) -> Sequence[BrokerOrder]:
        orders: dict[str, BrokerOrder] = {}
        after = since
        while True:
            query = GetOrdersRequest(
                status=QueryOrderStatus.OPEN if open_only else QueryOrderStatus.ALL,
                limit=_PAGE,
                after=after,
                direction="asc",
                # Legs nested under their entry, so each is listed knowing its parent.
                nested=True,
            )
            page = await self._read(lambda q=query: self._client.get_orders(q), "list orders")  # type: ignore[misc]
            batch = [order_from_json(item) for item in _as_list(page)]
            for order in _with_legs(batch):
                if open_only and order.status.is_terminal:
                    continue  # a closed bracket's leg still open is listed; its closed sibling is not
                orders[order.broker_order_id] = order
            if len(batch) < _PAGE or batch[-1].submitted_at is None:
                return list(orders.values())
            after = batch[-1].submitted_at

    async def cancel_order(self, broker_order_id: str) -> None:
        await self._read(lambda: self._client.cancel_order_by_id(broker_order_id), "cancel order")

    async def cancel_all_orders(self) -> Sequence[CancelResult]:
        raw = await self._read(self._client.cancel_orders, "cancel all orders")
        results = []
        for item in _as_list(raw):
            status = int(item.get("status") or 0)
            body = item.get("body")
            error = (
                None if 200 <= status < 300 else str(body.get("message") if isinstance(body, dict) else body)
            )
            results.append(CancelResult(str(item.get("id")), ok=error is None, error=error))
        return results

    # ------------------------------------------------------------------ fills, positions, account

    async def list_fills(self, *, since: datetime | None = None) -> Sequence[BrokerFill]:
        fills: list[BrokerFill] = []
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {"direction": "asc", "page_size": 100}
            if since is not None:
                params["after"] = since.astimezone(UTC).isoformat().replace("+00:00", "Z")
            if page_token:
                params["page_token"] = page_token
            raw = await self._read(
                lambda p=params: self._client.get("/account/activities/FILL", p),  # type: ignore[misc]
                "list fills",
            )
            items = _as_list(raw)
            for item in items:
                fills.append(
                    BrokerFill(
                        execution_id=str(item["id"]),
                        broker_order_id=str(item["order_id"]),
                        symbol=str(item["symbol"]),
                        side=OrderSide("buy" if str(item["side"]).startswith("buy") else "sell"),
                        quantity=to_decimal(str(item["qty"])),
                        price=to_decimal(str(item["price"])),
                        filled_at=_time(item["transaction_time"]) or datetime.now(UTC),
                        cumulative_quantity=_decimal(item.get("cum_qty")),
                    )
                )
            if len(items) < 100:
                return fills
            page_token = str(items[-1]["id"])

    async def list_positions(self) -> Sequence[BrokerPosition]:
        raw = await self._read(self._client.get_all_positions, "list positions")
        return [
            BrokerPosition(
                symbol=str(item["symbol"]),
                quantity=to_decimal(str(item["qty"])),
                average_entry_price=to_decimal(str(item["avg_entry_price"])),
                market_price=_decimal(item.get("current_price")),
                unrealized_pnl=_decimal(item.get("unrealized_pl")),
            )
            for item in _as_list(raw)
        ]

    async def close_all_positions(self) -> Sequence[CloseResult]:
        raw = await self._read(lambda: self._client.close_all_positions(cancel_orders=False), "close all")
        results = []
        for item in _as_list(raw):
            status = int(item.get("status") or 0)
            body = item.get("body") or {}
            symbol = str(item.get("symbol") or body.get("symbol") or "")
            if 200 <= status < 300 and "id" in body:
                results.append(CloseResult(symbol, status, order=order_from_json(body)))
            else:
                results.append(CloseResult(symbol, status, error=str(body.get("message") or body)))
        return results

    async def get_account(self) -> BrokerAccount:
        return account_from_json(_as_dict(await self._read(self._client.get_account, "account")))

    async def get_clock(self) -> MarketClock:
        raw = _as_dict(await self._read(self._client.get_clock, "clock"))
        at, next_open, next_close = (_time(raw.get(k)) for k in ("timestamp", "next_open", "next_close"))
        if at is None or next_open is None or next_close is None:
            raise BrokerUnavailableError(f"clock answer without times: {raw}")
        return MarketClock(at=at, is_open=bool(raw["is_open"]), next_open=next_open, next_close=next_close)

    async def get_asset(self, symbol: str) -> BrokerAsset | None:
        try:
            raw = _as_dict(await self._read(lambda: self._client.get_asset(symbol), "asset"))
        except OrderNotFoundError:
            return None
        return BrokerAsset(
            symbol=str(raw["symbol"]),
            tradable=bool(raw.get("tradable")) and raw.get("status", "active") == "active",
            shortable=bool(raw.get("shortable")),
            fractionable=bool(raw.get("fractionable")),
        )


def _read_error(error: APIError, what: str) -> BrokerError:
    status = error.status_code
    _code, message = _error_body(error)
    text = f"{what}: {message}"
    if status == 401:
        return BrokerAuthenticationError(text, status_code=status)
    if status == 404:
        return OrderNotFoundError(text, status_code=status)
    if status == 422 and "state" in message:
        return OrderNotCancelableError(text, status_code=status)
    if status is None or status == 429 or status >= 500:
        return BrokerUnavailableError(text, status_code=status)
    return BrokerError(text, status_code=status)


def _as_dict(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    raise BrokerError(f"unexpected broker answer: {type(raw).__name__}")


def _as_list(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, list):
        return [item for item in raw if isinstance(item, dict)]
    raise BrokerError(f"unexpected broker answer: {type(raw).__name__}")
