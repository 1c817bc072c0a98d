"""The simulated broker fills with the backtester's fill model: next open, slippage, commission,
volume participation, stops, brackets, DAY expiry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.broker import OrderClass, OrderRejectedError, OrderRequest
from trader.core.client_order_ids import make_client_order_id
from trader.core.fills import Commission, FillModel, Slippage
from trader.core.market import Bar, Timeframe
from trader.core.orders import OrderSide, OrderStatus, OrderType, TimeInForce

OPEN_AT = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def bar(at: datetime, open_: str, high: str, low: str, close: str, volume: str = "100000") -> Bar:
    return Bar(
        "AAPL",
        Timeframe.MINUTE1,
        at,
        Decimal(open_),
        Decimal(high),
        Decimal(low),
        Decimal(close),
        Decimal(volume),
    )


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(OPEN_AT, speed=0)


def make_broker(clock: SimulatedClock, **options: object) -> SimulatedBroker:
    # Frictionless unless a test names its costs: the matching rules are checked on exact prices.
    options.setdefault("fill_model", FillModel.frictionless())
    broker = SimulatedBroker(clock, XNYSCalendar(), starting_cash=Decimal(100_000), **options)  # type: ignore[arg-type]
    broker.on_bar(bar(OPEN_AT - timedelta(minutes=1), "100", "100", "100", "100"))
    return broker


def buy(quantity: str = "10", **fields: Any) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"t-{quantity}-{len(fields)}",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=Decimal(quantity),
        **fields,
    )


def next_bar(
    clock: SimulatedClock, open_: str, high: str, low: str, close: str, volume: str = "100000"
) -> Bar:
    start = clock.now()
    clock.advance_by(timedelta(minutes=1))
    return bar(start, open_, high, low, close, volume)


async def test_market_order_fills_at_next_open_with_slippage_and_commission(clock: SimulatedClock) -> None:
    model = FillModel(
        slippage=Slippage(Decimal(10)), commission=Commission(per_share=Decimal("0.01"), minimum=Decimal(1))
    )
    broker = make_broker(clock, fill_model=model)
    await broker.submit_order(buy("10"))

    (fill,) = broker.on_bar(next_bar(clock, "101", "103", "99", "102"))

    expected = model.quote_fill(OrderSide.BUY, Decimal(10), bar(OPEN_AT, "101", "103", "99", "102"))
    assert (fill.price, fill.commission) == (expected.price, expected.commission)
    account = await broker.get_account()
    assert account.cash == Decimal(100_000) + expected.cash_change


async def test_a_sale_pays_the_regulatory_fees_and_records_them_with_the_fill(clock: SimulatedClock) -> None:
    model = FillModel(slippage=Slippage(Decimal(0)), commission=Commission(per_share=Decimal("0.01")))
    broker = make_broker(clock, fill_model=model)
    await broker.submit_order(buy("100"))
    (bought,) = broker.on_bar(next_bar(clock, "250", "250", "250", "250"))
    await broker.submit_order(
        OrderRequest(client_order_id="sell-100", symbol="AAPL", side=OrderSide.SELL, quantity=Decimal(100))
    )
    (sold,) = broker.on_bar(next_bar(clock, "250", "250", "250", "250"))

    assert (bought.commission, bought.regulatory_fees) == (Decimal("1.00"), Decimal(0))
    # SEC 25,000 x 0.0000278 = 0.695 -> 0.70, TAF 100 x 0.000166 -> 0.02, plus 1.00 commission.
    assert (sold.commission, sold.regulatory_fees) == (Decimal("1.72"), Decimal("0.72"))
    account = await broker.get_account()
    assert account.cash == Decimal(100_000) - Decimal("1.00") - Decimal("1.72")


async def test_fills_are_capped_by_volume_participation(clock: SimulatedClock) -> None:
    broker = make_broker(clock, participation_rate=Decimal("0.1"))
    submitted = await broker.submit_order(buy("150"))

    first = broker.on_bar(next_bar(clock, "100", "100", "100", "100", volume="1000"))
    second = broker.on_bar(next_bar(clock, "100", "100", "100", "100", volume="1000"))

    assert [f.quantity for f in (*first, *second)] == [Decimal(100), Decimal(50)]
    order = await broker.get_order(submitted.broker_order_id)
    assert order.status is OrderStatus.FILLED


async def test_a_bar_that_closed_before_the_order_never_fills_it(clock: SimulatedClock) -> None:
    broker = make_broker(clock)
    await broker.submit_order(buy())

    assert broker.on_bar(bar(OPEN_AT - timedelta(minutes=1), "90", "90", "90", "90")) == []


async def test_limit_and_stop_follow_the_intrabar_rules(clock: SimulatedClock) -> None:
    broker = make_broker(clock)
    limit = await broker.submit_order(buy("1", order_type=OrderType.LIMIT, limit_price=Decimal(95)))
    stop = await broker.submit_order(
        OrderRequest("t-stop", "AAPL", OrderSide.BUY, Decimal(1), OrderType.STOP, stop_price=Decimal(104))
    )

    fills = broker.on_bar(next_bar(clock, "100", "106", "94", "105"))

    prices = {f.broker_order_id: f.price for f in fills}
    assert prices == {limit.broker_order_id: Decimal(95), stop.broker_order_id: Decimal(104)}


async def test_bracket_legs_wait_for_the_entry_and_the_stop_cancels_the_take_profit(
    clock: SimulatedClock,
) -> None:
    broker = make_broker(clock)
    entry = await broker.submit_order(
        buy("5", order_class=OrderClass.BRACKET, take_profit_price=Decimal(110), stop_loss_price=Decimal(95))
    )
    legs = [o for o in await broker.list_orders() if o.parent_broker_order_id == entry.broker_order_id]
    assert sorted(o.status for o in legs) == [OrderStatus.HELD, OrderStatus.HELD]

    broker.on_bar(next_bar(clock, "100", "101", "99", "100"))
    fills = broker.on_bar(next_bar(clock, "100", "111", "94", "100"))  # touches both: stop first

    (fill,) = fills
    assert (fill.side, fill.price) == (OrderSide.SELL, Decimal(95))
    statuses = {o.order_type: o.status for o in await broker.list_orders() if o.parent_broker_order_id}
    assert statuses == {OrderType.STOP: OrderStatus.FILLED, OrderType.LIMIT: OrderStatus.CANCELED}
    assert await broker.list_positions() == []


async def test_day_orders_expire_at_the_session_close_and_gtc_orders_stay(clock: SimulatedClock) -> None:
    broker = make_broker(clock)
    day = await broker.submit_order(buy("1", order_type=OrderType.LIMIT, limit_price=Decimal(50)))
    gtc = await broker.submit_order(
        OrderRequest(
            "t-gtc", "AAPL", OrderSide.BUY, Decimal(1), OrderType.LIMIT, TimeInForce.GTC, Decimal(50)
        )
    )

    broker.expire_orders(datetime(2024, 1, 2, 21, 0, tzinfo=UTC))  # 16:00 New York

    assert (await broker.get_order(day.broker_order_id)).status is OrderStatus.EXPIRED
    assert (await broker.get_order(gtc.broker_order_id)).status is OrderStatus.ACCEPTED


async def test_quotes_fill_market_orders_at_the_touch(clock: SimulatedClock) -> None:
    broker = make_broker(clock)
    broker.set_quote("AAPL", Decimal("99.95"), Decimal("100.05"), ask_size=Decimal(3))

    await broker.submit_order(buy("5"))
    fills = await broker.list_fills()

    assert [(f.quantity, f.price) for f in fills] == [(Decimal(3), Decimal("100.05"))]


async def test_bad_requests_and_duplicates_are_refused(clock: SimulatedClock) -> None:
    broker = make_broker(clock)
    await broker.submit_order(buy())

    with pytest.raises(OrderRejectedError, match="client_order_id must be unique"):
        await broker.submit_order(buy())
    with pytest.raises(OrderRejectedError, match="needs a limit price"):
        await broker.submit_order(OrderRequest("t-x", "AAPL", OrderSide.BUY, Decimal(1), OrderType.LIMIT))
    with pytest.raises(OrderRejectedError, match="insufficient qty"):
        await broker.submit_order(OrderRequest("t-y", "AAPL", OrderSide.SELL, Decimal(1)))


def test_client_order_ids_are_deterministic_short_and_distinct() -> None:
    at = datetime(2024, 1, 2, 14, 59, tzinfo=UTC)
    first = make_client_order_id("a_very_long_strategy_name_indeed", "BRK.B", at, "buy")

    assert first == make_client_order_id("a_very_long_strategy_name_indeed", "BRK.B", at, "buy")
    assert len(first) <= 64
    assert first != make_client_order_id("a_very_long_strategy_name_indeed", "BRK.B", at, "sell")
    assert first != make_client_order_id("a_very_long_strategy_name_indeed2", "BRK.B", at, "buy")
    with pytest.raises(ValueError, match="aware UTC"):
        make_client_order_id("s", "AAPL", datetime(2024, 1, 2), "buy")


async def test_a_day_order_fills_on_its_session_bar_announced_after_the_close() -> None:
    # End-of-day replay: the order is placed after Wednesday's close and Thursday's daily bar is
    # only announced after Thursday's close; the order still fills at Thursday's open.
    wednesday_evening = datetime(2010, 1, 20, 21, 18, tzinfo=UTC)
    clock = SimulatedClock(wednesday_evening, speed=0)
    broker = SimulatedBroker(
        clock,
        XNYSCalendar(start=date(2010, 1, 4), end=date(2010, 2, 26)),
        starting_cash=Decimal(100_000),
        fill_model=FillModel.frictionless(),
    )
    broker.set_tradable("JNJ", True)
    order = await broker.submit_order(
        OrderRequest(
            client_order_id="eod-1",
            symbol="JNJ",
            side=OrderSide.BUY,
            quantity=Decimal(76),
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.DAY,
        )
    )
    clock.advance_to(datetime(2010, 1, 21, 21, 5, tzinfo=UTC))
    thursday = Bar(
        "JNJ",
        Timeframe.DAY1,
        datetime(2010, 1, 21, 14, 30, tzinfo=UTC),
        open=Decimal("65.30"),
        high=Decimal("65.90"),
        low=Decimal("64.80"),
        close=Decimal("65.10"),
        volume=Decimal(9_000_000),
    )
    fills = broker.on_bar(thursday)
    assert [(fill.quantity, fill.price) for fill in fills] == [(Decimal(76), Decimal("65.30"))]
    assert (await broker.get_order(order.broker_order_id)).status is OrderStatus.FILLED


async def test_open_order_ids_follow_fills_cancels_and_expiry(clock: SimulatedClock) -> None:
    broker = make_broker(clock)
    market = await broker.submit_order(buy("10"))
    limit = await broker.submit_order(
        buy("5", order_type=OrderType.LIMIT, limit_price=Decimal("50"), time_in_force=TimeInForce.DAY)
    )
    kept = await broker.submit_order(buy("3", order_type=OrderType.LIMIT, limit_price=Decimal("60")))
    assert broker.open_order_ids() == {market.broker_order_id, limit.broker_order_id, kept.broker_order_id}

    broker.on_bar(next_bar(clock, "101", "103", "99", "102"))  # the market order fills
    await broker.cancel_order(kept.broker_order_id)
    assert broker.open_order_ids() == {limit.broker_order_id}
    assert [o.broker_order_id for o in await broker.list_orders(open_only=True)] == [limit.broker_order_id]

    broker.on_bar(bar(OPEN_AT + timedelta(days=1), "101", "101", "101", "101"))  # the DAY order expired
    assert broker.open_order_ids() == set()
    assert await broker.list_orders(open_only=True) == []
    statuses = {o.broker_order_id: o.status for o in await broker.list_orders()}
    assert statuses == {
        market.broker_order_id: OrderStatus.FILLED,
        limit.broker_order_id: OrderStatus.EXPIRED,
        kept.broker_order_id: OrderStatus.CANCELED,
    }
