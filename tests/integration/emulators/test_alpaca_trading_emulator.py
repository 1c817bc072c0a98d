"""The official alpaca-py TradingClient against the Alpaca emulator over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import FailedClosePositionDetails, Order
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)

from tests.emulators.alpaca import AlpacaEmulator, Asset
from tests.emulators.faults import Fault
from tests.emulators.server import EmulatorServer
from trader.adapters.http_timeouts import TimeoutAdapter


# alpaca-py types every answer `Model | RawData` (dicts when raw_data=True); these tests use models, so
# the client is typed Any rather than narrowing each answer.
@pytest.fixture
def trading(alpaca: AlpacaEmulator, alpaca_server: EmulatorServer) -> Any:
    client = TradingClient(alpaca.api_key, alpaca.secret_key, paper=True, url_override=alpaca_server.base_url)
    # alpaca-py retries 429/504 three times with 3 s sleeps; retry_attempts=0 is ignored by its
    # constructor, so the attribute is the only switch.
    client._retry = 0
    return client


def buy(symbol: str, qty: str, client_order_id: str | None = None) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol=symbol,
        qty=float(qty),
        side=OrderSide.BUY,
        time_in_force=TimeInForce.DAY,
        client_order_id=client_order_id,
    )


def api_error_body(error: APIError) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(str(error))
    return loaded


def test_wrong_keys_are_refused_with_401(alpaca_server: EmulatorServer) -> None:
    stranger = TradingClient("nobody", "nothing", url_override=alpaca_server.base_url)

    with pytest.raises(APIError) as refused:
        stranger.get_account()

    assert refused.value.status_code == 401
    assert refused.value.code == 40110000


def test_account_reports_cash_and_buying_power(trading: Any) -> None:
    account = trading.get_account()

    assert account.cash == "100000"
    assert account.buying_power == "100000"
    assert account.equity == "100000"
    assert account.status == "ACTIVE"
    assert account.shorting_enabled is False


def test_clock_follows_the_settable_now(alpaca: AlpacaEmulator, trading: Any) -> None:
    open_clock = trading.get_clock()
    alpaca.set_now(datetime(2024, 1, 6, 15, 0, tzinfo=UTC))  # a Saturday
    weekend_clock = trading.get_clock()

    assert open_clock.is_open is True
    assert open_clock.next_close == datetime(2024, 1, 2, 21, 0, tzinfo=UTC)
    assert weekend_clock.is_open is False
    assert weekend_clock.next_open == datetime(2024, 1, 8, 14, 30, tzinfo=UTC)


def test_calendar_skips_holidays_and_shows_early_closes(trading: Any) -> None:
    days = trading.get_calendar(GetCalendarRequest(start=date(2024, 7, 1), end=date(2024, 7, 5)))

    assert [day.date for day in days] == [
        date(2024, 7, 1),
        date(2024, 7, 2),
        date(2024, 7, 3),
        date(2024, 7, 5),
    ]
    assert days[2].close == datetime(2024, 7, 3, 13, 0)
    assert days[0].open == datetime(2024, 7, 1, 9, 30)


def test_assets_tradable_untradable_and_unknown(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.add_asset(Asset("AAPL", name="Apple Inc. Common Stock"))
    alpaca.add_asset(Asset("DEAD", tradable=False, status="inactive"))

    assert trading.get_asset("AAPL").tradable is True
    assert trading.get_asset("DEAD").tradable is False
    with pytest.raises(APIError) as missing:
        trading.get_asset("ZZZZ")
    assert missing.value.status_code == 404
    with pytest.raises(APIError) as untradable:
        trading.submit_order(buy("DEAD", "1"))
    assert untradable.value.status_code == 422


def test_market_order_fills_at_the_set_price_and_moves_cash_and_position(
    alpaca: AlpacaEmulator, trading: Any
) -> None:
    alpaca.set_price("AAPL", Decimal("190.10"))

    submitted = trading.submit_order(buy("AAPL", "10", client_order_id="intent-1"))
    fills = alpaca.fill_pending()
    order = trading.get_order_by_id(submitted.id)

    assert submitted.status == OrderStatus.NEW
    assert submitted.filled_qty == "0"
    assert [(fill.qty, fill.price) for fill in fills] == [(Decimal(10), Decimal("190.10"))]
    assert order.status == OrderStatus.FILLED
    assert order.filled_qty == "10"
    assert order.filled_avg_price == "190.1"
    assert order.filled_at is not None
    assert trading.get_order_by_client_id("intent-1").id == submitted.id
    assert Decimal(trading.get_account().cash) == Decimal(100_000) - 10 * Decimal("190.10")
    position = trading.get_open_position("AAPL")
    assert (position.qty, position.avg_entry_price, position.side) == ("10", "190.1", "long")


def test_orders_submitted_while_closed_are_accepted(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_now(datetime(2024, 1, 2, 23, 0, tzinfo=UTC))
    alpaca.set_price("AAPL", Decimal(190))

    assert trading.submit_order(buy("AAPL", "1")).status == OrderStatus.ACCEPTED


def test_limit_order_waits_until_the_price_crosses(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_price("AAPL", Decimal(191))
    order = trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=190.00
        )
    )

    assert alpaca.fill_pending() == []
    alpaca.set_price("AAPL", Decimal("189.95"))
    fills = alpaca.fill_pending()

    assert [fill.price for fill in fills] == [Decimal("189.95")]
    assert trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    assert order.limit_price == "190"


def test_stop_stop_limit_and_trailing_stop_trigger_on_the_price_path(
    alpaca: AlpacaEmulator, trading: Any
) -> None:
    alpaca.set_position("AAPL", Decimal(30), Decimal(180))
    alpaca.set_price("AAPL", Decimal(190))
    stop = trading.submit_order(
        StopOrderRequest(
            symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, stop_price=185
        )
    )
    stop_limit = trading.submit_order(
        StopLimitOrderRequest(
            symbol="AAPL",
            qty=10,
            side=OrderSide.SELL,
            time_in_force=TimeInForce.GTC,
            stop_price=186,
            limit_price=184,
        )
    )
    trailing = trading.submit_order(
        TrailingStopOrderRequest(
            symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, trail_price=5
        )
    )

    alpaca.set_price("AAPL", Decimal(200))  # raises the trailing stop's high-water mark to 200 (stop 195)
    assert alpaca.fill_pending() == []
    alpaca.set_price("AAPL", Decimal("194.5"))
    assert [fill.order_id for fill in alpaca.fill_pending()] == [trailing.id]
    alpaca.set_price("AAPL", Decimal("183.5"))  # stop triggers; stop-limit triggers but 183.5 < limit 184
    assert [fill.order_id for fill in alpaca.fill_pending()] == [stop.id]
    alpaca.set_price("AAPL", Decimal("184.2"))
    assert [fill.order_id for fill in alpaca.fill_pending()] == [stop_limit.id]

    assert trading.get_order_by_id(trailing.id).hwm == "200"
    assert alpaca.position_qty("AAPL") == 0
    with pytest.raises(APIError) as gone:
        trading.get_open_position("AAPL")
    assert api_error_body(gone.value) == {"code": 40410000, "message": "position does not exist"}


def test_notional_order_buys_a_fraction(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_price("AAPL", Decimal(200))
    order = trading.submit_order(
        MarketOrderRequest(symbol="AAPL", notional=50, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )

    alpaca.fill_pending()

    filled = trading.get_order_by_id(order.id)
    assert order.notional == "50"
    assert order.qty is None
    assert filled.filled_qty == "0.25"
    assert trading.get_open_position("AAPL").qty == "0.25"


def test_partial_fills_then_fill_show_in_fill_activities(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_price("MSFT", Decimal(370))
    alpaca.set_liquidity("MSFT", Decimal(4))
    order = trading.submit_order(buy("MSFT", "10"))

    alpaca.fill_pending()
    partial = trading.get_order_by_id(order.id)
    alpaca.fill_pending()
    alpaca.fill_pending()
    activities = trading.get("/account/activities/FILL", {"direction": "asc"})

    assert partial.status == OrderStatus.PARTIALLY_FILLED
    assert partial.filled_qty == "4"
    assert trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    assert isinstance(activities, list)
    assert [(a["type"], a["qty"], a["cum_qty"], a["leaves_qty"]) for a in activities] == [
        ("partial_fill", "4", "4", "6"),
        ("partial_fill", "4", "8", "2"),
        ("fill", "2", "10", "0"),
    ]
    assert activities[0]["order_id"] == str(order.id)


def test_fill_activities_come_in_pages_and_after_a_time(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_price("MSFT", Decimal(370))
    alpaca.set_liquidity("MSFT", Decimal(1))
    trading.submit_order(buy("MSFT", "150"))
    for _ in range(150):
        alpaca.fill_pending()

    first = trading.get("/account/activities/FILL", {"direction": "asc"})
    second = trading.get("/account/activities/FILL", {"direction": "asc", "page_token": first[-1]["id"]})
    small = trading.get("/account/activities/FILL", {"direction": "desc", "page_size": 10})
    later = trading.get("/account/activities/FILL", {"after": "2024-01-02T15:00:00Z"})

    assert [len(first), len(second)] == [100, 50]
    assert [a["cum_qty"] for a in first + second] == [str(n) for n in range(1, 151)]
    assert [a["cum_qty"] for a in small] == [str(n) for n in range(150, 140, -1)]
    assert later == []  # every fill happened at the emulator's 15:00, not after it


def test_fill_on_submit_fills_after_answering(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.fill_on_submit = True
    alpaca.set_price("AAPL", Decimal(190))

    order = trading.submit_order(buy("AAPL", "1"))

    assert order.status == OrderStatus.NEW
    assert trading.get_order_by_id(order.id).status == OrderStatus.FILLED


def test_duplicate_client_order_id_is_422(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_price("AAPL", Decimal(190))
    trading.submit_order(buy("AAPL", "1", client_order_id="same"))

    with pytest.raises(APIError) as duplicate:
        trading.submit_order(buy("AAPL", "1", client_order_id="same"))

    assert duplicate.value.status_code == 422
    assert api_error_body(duplicate.value) == {"code": 40010001, "message": "client_order_id must be unique"}
    assert alpaca.order_count() == 1


def test_insufficient_buying_power_and_shorting_refusals(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_price("AAPL", Decimal(190))

    with pytest.raises(APIError) as too_big:
        trading.submit_order(buy("AAPL", "1000"))
    with pytest.raises(APIError) as short:
        trading.submit_order(
            MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY)
        )

    assert too_big.value.status_code == 403
    assert api_error_body(too_big.value) == {
        "buying_power": "100000",
        "cost_basis": "190000",
        "code": 40310000,
        "message": "insufficient buying power",
    }
    assert short.value.status_code == 403
    assert api_error_body(short.value) == {"code": 40310000, "message": "account is not allowed to short"}


def test_order_list_filters(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_price("AAPL", Decimal(190))
    alpaca.set_price("MSFT", Decimal(370))
    first = trading.submit_order(buy("AAPL", "1"))
    second = trading.submit_order(buy("MSFT", "1"))
    third = trading.submit_order(buy("AAPL", "2"))
    trading.cancel_order_by_id(second.id)

    open_orders = trading.get_orders()
    closed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    every_aapl_oldest_first = trading.get_orders(
        GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["AAPL"], direction="asc")
    )
    newest = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=1))

    assert [o.id for o in open_orders] == [third.id, first.id]
    assert [o.id for o in closed] == [second.id]
    assert [o.id for o in every_aapl_oldest_first] == [first.id, third.id]
    assert [o.id for o in newest] == [third.id]


def test_cancel_one_then_again_and_cancel_all_207(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_price("AAPL", Decimal(190))
    first = trading.submit_order(buy("AAPL", "1"))
    second = trading.submit_order(buy("AAPL", "1"))
    third = trading.submit_order(buy("AAPL", "1"))

    trading.cancel_order_by_id(first.id)
    with pytest.raises(APIError) as again:
        trading.cancel_order_by_id(first.id)
    cancelled = trading.cancel_orders()

    assert again.value.status_code == 422
    assert trading.get_order_by_id(first.id).status == OrderStatus.CANCELED
    assert [(r.id, r.status) for r in cancelled] == [(second.id, 200), (third.id, 200)]
    with pytest.raises(APIError) as unknown:
        trading.get_order_by_id("00000000-0000-4000-8000-000000000000")
    assert unknown.value.status_code == 404


def test_positions_list_one_and_partial_closes(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_position("AAPL", Decimal(10), Decimal(100))
    alpaca.set_price("AAPL", Decimal(120), lastday_price=Decimal(119))
    alpaca.fill_on_submit = True

    listed = trading.get_all_positions()
    by_qty = trading.close_position("AAPL", ClosePositionRequest(qty="4"))
    by_percentage = trading.close_position("AAPL", ClosePositionRequest(percentage="50"))

    assert [(p.symbol, p.qty, p.market_value, p.unrealized_pl, p.lastday_price) for p in listed] == [
        ("AAPL", "10", "1200", "200", "119")
    ]
    assert (by_qty.side, by_qty.qty, by_qty.position_intent) == (OrderSide.SELL, "4", "sell_to_close")
    assert by_percentage.qty == "3"
    assert trading.get_open_position("AAPL").qty == "3"
    assert alpaca.cash == Decimal(100_000) + Decimal(7 * 120)


def test_close_all_with_cancel_orders_sends_capital_true_and_reports_per_symbol(
    alpaca: AlpacaEmulator, trading: Any
) -> None:
    alpaca.set_position("AAPL", Decimal(5), Decimal(100))
    alpaca.set_position("NYC", Decimal(7), Decimal(10))
    alpaca.set_price("AAPL", Decimal(110))
    resting = trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=5, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, limit_price=150
        )
    )
    alpaca.fail_close_position("NYC")

    results = trading.close_all_positions(cancel_orders=True)

    sent = [r for r in alpaca.requests if r.method == "DELETE" and r.path == "/v2/positions"][-1]
    assert sent.query == {"cancel_orders": "True"}
    assert trading.get_order_by_id(resting.id).status == OrderStatus.CANCELED
    by_symbol = {r.symbol: r for r in results}
    assert by_symbol["AAPL"].status == 200
    assert isinstance(by_symbol["AAPL"].body, Order)
    assert by_symbol["AAPL"].body.qty == "5"
    assert by_symbol["NYC"].status == 403
    assert isinstance(by_symbol["NYC"].body, FailedClosePositionDetails)
    assert by_symbol["NYC"].body.message == "account is not allowed to short"


def test_close_all_without_cancelling_hits_the_held_quantity_like_the_fixture(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer, trading: Any
) -> None:
    alpaca.set_position("SQQQ", Decimal(1000), Decimal(20))
    alpaca.set_price("SQQQ", Decimal(21))
    trading.submit_order(
        LimitOrderRequest(
            symbol="SQQQ", qty=1000, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, limit_price=30
        )
    )

    raw = requests.delete(
        f"{alpaca_server.base_url}/v2/positions",
        headers={"APCA-API-KEY-ID": alpaca.api_key, "APCA-API-SECRET-KEY": alpaca.secret_key},
        timeout=5,
    )

    assert raw.status_code == 207
    assert raw.json() == [
        {
            "symbol": "SQQQ",
            "status": 403,
            "body": {
                "available": "0",
                "code": 40310000,
                "existing_qty": "1000",
                "held_for_orders": "1000",
                "message": "insufficient qty available for order (requested: 1000, available: 0)",
                "symbol": "SQQQ",
            },
        }
    ]


@pytest.mark.parametrize("status", [429, 504])
def test_retryable_status_without_processing(alpaca: AlpacaEmulator, trading: Any, status: int) -> None:
    alpaca.set_price("AAPL", Decimal(190))
    alpaca.inject(Fault(status=status, method="POST", path="/v2/orders"))

    with pytest.raises(APIError) as refused:
        trading.submit_order(buy("AAPL", "1", client_order_id="c-1"))

    assert refused.value.status_code == status
    assert alpaca.order_count() == 0


def test_sdk_default_retry_resubmits_an_order_post(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    retrying = TradingClient(alpaca.api_key, alpaca.secret_key, url_override=alpaca_server.base_url)
    retrying._retry_wait = 0  # keep the SDK's retries, drop its 3 s sleeps
    alpaca.set_price("AAPL", Decimal(190))
    alpaca.inject(Fault(status=504, after_processing=True, method="POST", path="/v2/orders"))

    with pytest.raises(APIError) as second_attempt:
        retrying.submit_order(buy("AAPL", "1", client_order_id="c-1"))

    # The first POST created the order and answered 504; the SDK's silent retry then hit the uniqueness
    # check. Without a client_order_id it would have bought twice.
    posts = [r for r in alpaca.requests if r.method == "POST" and r.path == "/v2/orders"]
    assert len(posts) == 2
    assert second_attempt.value.status_code == 422
    assert alpaca.order_count() == 1


def test_accepted_then_500_still_created_the_order(alpaca: AlpacaEmulator, trading: Any) -> None:
    alpaca.set_price("AAPL", Decimal(190))
    alpaca.inject(Fault(status=500, after_processing=True, method="POST", path="/v2/orders"))

    with pytest.raises(APIError) as failed:
        trading.submit_order(buy("AAPL", "1", client_order_id="intent-500"))

    assert failed.value.status_code == 500
    assert trading.get_order_by_client_id("intent-500").status == OrderStatus.NEW


def test_answer_later_than_the_client_timeout_still_created_the_order(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer, trading: Any
) -> None:
    alpaca.set_price("AAPL", Decimal(190))
    impatient = TradingClient(alpaca.api_key, alpaca.secret_key, url_override=alpaca_server.base_url)
    impatient._session.mount("http://", TimeoutAdapter(0.2))
    alpaca.inject(Fault(delay_seconds=0.6, after_processing=True, method="POST", path="/v2/orders"))

    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.submit_order(buy("AAPL", "1", client_order_id="intent-slow"))

    assert trading.get_order_by_client_id("intent-slow").symbol == "AAPL"
