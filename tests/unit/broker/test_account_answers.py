"""The broker's account answer: Alpaca's fields mapped strictly (a missing field is refused, never
guessed at), and the simulated broker's account computed from its cash, positions and sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from trader.adapters.alpaca.broker import account_from_json
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.broker import InvalidAccountError, OrderRequest
from trader.core.fills import FillModel
from trader.core.market import Bar, Timeframe
from trader.core.orders import OrderSide

OPEN_AT = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def alpaca_account() -> dict[str, Any]:
    """GET /v2/account as alpaca-py's test fixture records it (test_account_routes::test_get_account)."""
    return {
        "account_blocked": False, "accrued_fees": "0", "account_number": "010203ABCD",
        "buying_power": "262113.632", "cash": "-23140.2", "created_at": "2019-06-12T22:47:07.99658Z",
        "currency": "USD", "daytrade_count": 0, "daytrading_buying_power": "262113.632",
        "equity": "103820.56", "id": "e6fe16f3-64a4-4921-8928-cadf02f92f98",
        "initial_margin": "63480.38", "last_equity": "103529.24", "last_maintenance_margin": "38000.832",
        "non_marginable_buying_power": "98945.02", "long_market_value": "126960.76",
        "maintenance_margin": "38088.228", "multiplier": "4", "pattern_day_trader": False,
        "portfolio_value": "103820.56", "regt_buying_power": "80680.36", "short_market_value": "0",
        "shorting_enabled": True, "sma": "0", "status": "ACTIVE", "trade_suspended_by_user": False,
        "trading_blocked": False, "transfers_blocked": False, "options_buying_power": "262113.632",
        "options_approved_level": "1", "options_trading_level": "1",
    }  # fmt: skip


def test_alpacas_account_answer_maps_field_by_field() -> None:
    account = account_from_json(alpaca_account())

    assert (account.cash, account.equity, account.buying_power) == (
        Decimal("-23140.2"),
        Decimal("103820.56"),
        Decimal("262113.632"),
    )
    assert (account.long_market_value, account.short_market_value, account.last_equity) == (
        Decimal("126960.76"),
        Decimal("0"),
        Decimal("103529.24"),
    )
    assert (account.pattern_day_trader, account.daytrade_count, account.shorting_enabled) == (False, 0, True)
    assert account.multiplier == Decimal(4)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"equity": None}, "equity=None"),
        ({"buying_power": "lots"}, "buying_power='lots'"),
        ({"daytrade_count": "3"}, "daytrade_count='3'"),
        ({"pattern_day_trader": None}, "pattern_day_trader=None"),
    ],
)
def test_a_missing_or_malformed_field_is_refused_by_name(change: dict[str, Any], named: str) -> None:
    raw = alpaca_account()
    raw.update(change)
    raw = {key: value for key, value in raw.items() if value is not None}

    with pytest.raises(InvalidAccountError, match=r"account answer is unusable: .*") as refused:
        account_from_json(raw)
    assert named in str(refused.value)


def daily_bar(day: datetime, open_: str, close: str) -> Bar:
    low, high = sorted((Decimal(open_), Decimal(close)))
    return Bar("AAPL", Timeframe.DAY1, day, Decimal(open_), high, low, Decimal(close), Decimal(1_000_000))


async def test_the_simulated_account_states_its_values_and_yesterdays_closing_equity() -> None:
    clock = SimulatedClock(OPEN_AT, speed=0)
    broker = SimulatedBroker(
        clock,
        XNYSCalendar(),
        starting_cash=Decimal(10_000),
        fill_model=FillModel.frictionless(),  # the account's arithmetic on exact prices
        participation_rate=Decimal(1),
    )
    tuesday = datetime(2024, 1, 2, tzinfo=UTC)
    broker.on_bar(daily_bar(tuesday - timedelta(days=1), "100", "100"))  # known, priced
    await broker.submit_order(OrderRequest("c-1", "AAPL", OrderSide.BUY, Decimal(10)))
    broker.on_bar(daily_bar(tuesday, "100", "105"))  # fills at the open, 100; closes at 105
    start = await broker.get_account()
    clock.advance_by(timedelta(days=1))  # Wednesday 10:00
    broker.on_bar(daily_bar(tuesday + timedelta(days=1), "95", "90"))

    account = await broker.get_account()

    assert start.last_equity == Decimal(10_000)  # the day before: all cash
    assert (account.cash, account.long_market_value, account.equity) == (
        Decimal(9_000),
        Decimal(900),
        Decimal(9_900),
    )
    assert account.last_equity == Decimal(10_050)  # Tuesday's close: 9,000 cash and 10 at 105
    assert (account.pattern_day_trader, account.daytrade_count, account.shorting_enabled) == (False, 0, False)
