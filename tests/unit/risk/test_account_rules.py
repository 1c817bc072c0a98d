"""The rules on the broker's account and the US retail rules: stale or unusable readings, negative
buying power, the pattern-day-trader guard, and the broker's say on shorts."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from tests.unit.risk.risk_builders import LOOSE, NOW, make_context, make_order, make_portfolio
from trader.core.orders import OrderSide
from trader.core.risk.account_rules import (
    check_account_reading,
    check_negative_buying_power,
    check_pattern_day_trades,
)
from trader.core.risk.context import AccountFacts
from trader.core.risk.engine import evaluate
from trader.core.risk.reasons import ReasonCode
from trader.core.risk.rules import check_shorting

FRESH = AccountFacts(read_at=NOW - timedelta(seconds=30), max_age=timedelta(minutes=5))
HOLDING = make_portfolio("20000", {"AAPL": ("40", "100")})  # 24,000 of equity


def test_a_reading_older_than_the_limit_or_none_at_all_refuses_new_risk_but_not_a_reduction() -> None:
    old = replace(FRESH, read_at=NOW - timedelta(minutes=6))
    buy, sell = make_order(), make_order(side=OrderSide.SELL, quantity="10")
    stale = check_account_reading(buy, HOLDING, LOOSE, replace(make_context(), account=old))
    missing = check_account_reading(
        buy, HOLDING, LOOSE, replace(make_context(), account=replace(old, read_at=None))
    )

    assert stale is not None and stale.code is ReasonCode.ACCOUNT_STALE
    assert stale.detail.endswith("360s ago > 300s")
    assert missing is not None and "no reading of the broker's account yet" in missing.detail
    assert check_account_reading(sell, HOLDING, LOOSE, replace(make_context(), account=old)) is None
    assert check_account_reading(buy, HOLDING, LOOSE, replace(make_context(), account=FRESH)) is None
    # The simulated broker's account is the books' own: no age limit.
    unlimited = replace(old, max_age=None)
    assert check_account_reading(buy, HOLDING, LOOSE, replace(make_context(), account=unlimited)) is None


def test_an_unusable_answer_and_negative_buying_power_have_their_own_codes() -> None:
    broken = replace(FRESH, problem="the broker's account answer is unusable: equity=None")
    context = replace(make_context(buying_power=Decimal(-500)), account=FRESH)

    unusable = check_account_reading(make_order(), HOLDING, LOOSE, replace(make_context(), account=broken))
    negative = check_negative_buying_power(make_order(), HOLDING, LOOSE, context)

    assert unusable is not None and unusable.code is ReasonCode.ACCOUNT_UNUSABLE
    assert negative is not None and negative.code is ReasonCode.NEGATIVE_BUYING_POWER
    assert negative.detail == "AAPL: the broker reports buying power -500"
    sell = make_order(side=OrderSide.SELL, quantity="10")
    assert check_negative_buying_power(sell, HOLDING, LOOSE, context) is None


def _day_trader(day_trades: int, *, flagged: bool = False, equity: str = "24000") -> AccountFacts:
    return replace(
        FRESH,
        day_trades=day_trades,
        pattern_day_trader=flagged,
        day_trading_equity=Decimal(equity),
        opened_today=frozenset({("AAPL", "long")}),
    )


def test_a_fourth_day_trade_in_five_days_under_25000_is_refused() -> None:
    sell = make_order(side=OrderSide.SELL, quantity="40")

    fourth = check_pattern_day_trades(sell, HOLDING, LOOSE, replace(make_context(), account=_day_trader(3)))
    third = check_pattern_day_trades(sell, HOLDING, LOOSE, replace(make_context(), account=_day_trader(2)))
    rich = check_pattern_day_trades(
        sell, HOLDING, LOOSE, replace(make_context(), account=_day_trader(3, equity="25000"))
    )
    flagged = check_pattern_day_trades(
        sell, HOLDING, LOOSE, replace(make_context(), account=_day_trader(0, flagged=True))
    )

    assert fourth is not None and fourth.code is ReasonCode.PATTERN_DAY_TRADE_LIMIT
    assert fourth.detail == (
        "sell AAPL would be day trade 4 in five business days; equity 24000 < 25000 allows 3"
    )
    assert third is None and rich is None
    assert flagged is not None and "flagged as a pattern day trader" in flagged.detail


def test_closing_a_position_not_opened_today_or_at_the_next_open_is_no_day_trade() -> None:
    sell = make_order(side=OrderSide.SELL, quantity="40")
    yesterday = replace(_day_trader(3), opened_today=frozenset())
    queued = replace(make_context(), account=_day_trader(3), queued_for_open=True)

    assert check_pattern_day_trades(sell, HOLDING, LOOSE, replace(make_context(), account=yesterday)) is None
    assert check_pattern_day_trades(sell, HOLDING, LOOSE, queued) is None
    # Adding to the position opened today is no day trade either.
    assert (
        check_pattern_day_trades(
            make_order(), HOLDING, LOOSE, replace(make_context(), account=_day_trader(3))
        )
        is None
    )


def test_a_short_needs_the_limit_the_account_and_the_asset() -> None:
    short = make_order(side=OrderSide.SELL, quantity="10")
    flat = make_portfolio()
    allowed = replace(make_context(), account=replace(FRESH, shorting_enabled=True), shortable={"AAPL": True})

    assert check_shorting(short, flat, LOOSE, allowed) is None
    off = check_shorting(short, flat, replace(LOOSE, allow_shorting=False), allowed)
    account = check_shorting(
        short, flat, LOOSE, replace(allowed, account=replace(FRESH, shorting_enabled=False))
    )
    asset = check_shorting(short, flat, LOOSE, replace(allowed, shortable={}))
    assert off is not None and "shorting is off" in off.detail
    assert account is not None and account.detail == "AAPL: the broker account does not allow shorting"
    assert asset is not None and asset.detail == "AAPL: the broker does not list the asset as shortable"


def test_the_engine_reports_the_account_reasons_with_every_other_one() -> None:
    stale = replace(FRESH, read_at=NOW - timedelta(hours=1))
    context = replace(make_context(buying_power=Decimal(-1)), account=stale)

    decision = evaluate(make_order(), HOLDING, LOOSE, context)

    assert decision.codes[:2] == (ReasonCode.ACCOUNT_STALE, ReasonCode.NEGATIVE_BUYING_POWER)
    assert ReasonCode.INSUFFICIENT_BUYING_POWER in decision.codes
