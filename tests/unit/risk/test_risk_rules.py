"""Every rule at, just under and just over its limit, plus the exemptions it promises."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.risk.risk_builders import LOOSE, NOW, D, make_context, make_order, make_portfolio, seconds
from trader.core.orders import OrderSide, OrderType
from trader.core.risk.context import MarketSession
from trader.core.risk.correlation import Correlations
from trader.core.risk.reasons import Denial, ReasonCode
from trader.core.risk.rules import (
    check_buying_power,
    check_correlation_concentration,
    check_daily_loss,
    check_drawdown,
    check_duplicate_signal,
    check_equity,
    check_gross_exposure,
    check_market_session,
    check_open_positions,
    check_order_notional,
    check_position_size,
    check_sector_concentration,
    check_shorting,
    check_stale_price,
    check_trades_per_day,
    check_volatility,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def code_of(denial: Denial | None) -> ReasonCode | None:
    return None if denial is None else denial.code


# --- max position % of equity ------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("199", None), ("200", None), ("200.01", ReasonCode.MAX_POSITION_PCT_EXCEEDED)],
)
def test_position_size_at_under_and_over_the_limit(quantity: str, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(max_position_pct=D("0.2"))
    denial = check_position_size(make_order(quantity=quantity), make_portfolio(), limits, make_context())
    assert code_of(denial) == expected


def test_position_size_message_names_symbol_share_and_limit() -> None:
    limits = LOOSE.with_changes(max_position_pct=D("0.2"))
    denial = check_position_size(make_order(quantity="231"), make_portfolio(), limits, make_context())
    assert denial is not None
    assert denial.message == "MAX_POSITION_PCT_EXCEEDED: AAPL 23.1% > 20%"


def test_position_size_message_shows_enough_digits_to_differ_from_the_limit() -> None:
    limits = LOOSE.with_changes(max_position_pct=D("0.2"))
    denial = check_position_size(make_order(quantity="200.01"), make_portfolio(), limits, make_context())
    assert denial is not None
    assert denial.detail == "AAPL 20.001% > 20%"


def test_position_size_counts_existing_shares_and_shorts() -> None:
    limits = LOOSE.with_changes(max_position_pct=D("0.2"))
    held = make_portfolio("85000", {"AAPL": ("150", "100")})
    assert check_position_size(make_order(quantity="50"), held, limits, make_context()) is None
    assert code_of(check_position_size(make_order(quantity="51"), held, limits, make_context())) is not None
    short = make_portfolio("100000", {})
    denial = check_position_size(make_order(side=SELL, quantity="201"), short, limits, make_context())
    assert code_of(denial) == ReasonCode.MAX_POSITION_PCT_EXCEEDED


def test_position_size_lets_an_oversized_position_be_reduced() -> None:
    limits = LOOSE.with_changes(max_position_pct=D("0.2"))
    oversized = make_portfolio("70000", {"AAPL": ("300", "100")})  # 30% of 100k
    assert (
        check_position_size(make_order(side=SELL, quantity="50"), oversized, limits, make_context()) is None
    )
    flip = make_order(side=SELL, quantity="600")  # through zero to a 30% short: new risk
    assert code_of(check_position_size(flip, oversized, limits, make_context())) is not None


# --- gross exposure ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("399", None), ("400", None), ("401", ReasonCode.MAX_GROSS_EXPOSURE_EXCEEDED)],
)
def test_gross_exposure_at_under_and_over(quantity: str, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(max_gross_exposure_pct=D("1"))
    portfolio = make_portfolio("40000", {"MSFT": ("600", "100")})
    denial = check_gross_exposure(make_order(quantity=quantity), portfolio, limits, make_context())
    assert code_of(denial) == expected


def test_gross_exposure_adds_shorts_to_longs() -> None:
    limits = LOOSE.with_changes(max_gross_exposure_pct=D("1"))
    # Short 600 MSFT: cash 160k, equity 100k, gross 60k; shorting AAPL adds to gross too.
    portfolio = make_portfolio("160000", {"MSFT": ("-600", "100")})
    assert (
        check_gross_exposure(make_order(side=SELL, quantity="400"), portfolio, limits, make_context()) is None
    )
    denial = check_gross_exposure(make_order(side=SELL, quantity="401"), portfolio, limits, make_context())
    assert denial is not None
    assert denial.detail == "gross exposure 100.1% of equity > 100%"


# --- open positions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "expected"),
    [(1, None), (2, None), (3, ReasonCode.MAX_OPEN_POSITIONS_EXCEEDED)],
)
def test_open_positions_at_under_and_over(held: int, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(max_open_positions=3)
    holdings = {symbol: ("10", "100") for symbol in ["MSFT", "IBM", "GOOG"][:held]}
    denial = check_open_positions(make_order(), make_portfolio("90000", holdings), limits, make_context())
    assert code_of(denial) == expected


def test_open_positions_allows_adding_to_a_held_symbol_at_the_cap() -> None:
    limits = LOOSE.with_changes(max_open_positions=2)
    portfolio = make_portfolio("90000", {"AAPL": ("10", "100"), "MSFT": ("10", "100")})
    assert check_open_positions(make_order(quantity="5"), portfolio, limits, make_context()) is None


# --- order notional ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("9.99", ReasonCode.ORDER_NOTIONAL_BELOW_MIN),
        ("10", None),
        ("10.01", None),
        ("499.99", None),
        ("500", None),
        ("500.01", ReasonCode.ORDER_NOTIONAL_ABOVE_MAX),
    ],
)
def test_order_notional_between_min_and_max(quantity: str, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(min_order_notional=D("1000"), max_order_notional=D("50000"))
    denial = check_order_notional(make_order(quantity=quantity), make_portfolio(), limits, make_context())
    assert code_of(denial) == expected


def test_order_notional_uses_the_buy_limit_price() -> None:
    limits = LOOSE.with_changes(max_order_notional=D("1000"))
    order = make_order(quantity="10", order_type=OrderType.LIMIT, limit_price="100.01")
    denial = check_order_notional(order, make_portfolio(), limits, make_context())
    assert denial is not None
    assert denial.message == "ORDER_NOTIONAL_ABOVE_MAX: AAPL 1000.1 > 1000"


def test_order_notional_minimum_does_not_trap_a_small_remainder() -> None:
    limits = LOOSE.with_changes(min_order_notional=D("1000"), max_order_notional=D("50000"))
    dust = make_portfolio("99500", {"AAPL": ("5", "100")})
    assert check_order_notional(make_order(side=SELL, quantity="5"), dust, limits, make_context()) is None
    big = make_portfolio("0", {"AAPL": ("1000", "100")})
    denial = check_order_notional(make_order(side=SELL, quantity="501"), big, limits, make_context())
    assert code_of(denial) == ReasonCode.ORDER_NOTIONAL_ABOVE_MAX


# --- daily loss and drawdown -------------------------------------------------------------


@pytest.mark.parametrize(
    ("equity", "expected"),
    [
        ("97001", None),
        ("97000", ReasonCode.DAILY_LOSS_LIMIT_REACHED),
        ("96999", ReasonCode.DAILY_LOSS_LIMIT_REACHED),
    ],
)
def test_daily_loss_trips_when_reached(equity: str, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(daily_loss_limit_pct=D("0.03"))
    portfolio = make_portfolio(equity, day_start="100000", peak="100000")
    denial = check_daily_loss(make_order(), portfolio, limits, make_context())
    assert code_of(denial) == expected


def test_daily_loss_message_and_reducing_exemption() -> None:
    limits = LOOSE.with_changes(daily_loss_limit_pct=D("0.03"))
    portfolio = make_portfolio("86800", {"AAPL": ("100", "100")}, day_start="100000")  # equity 96,800
    denial = check_daily_loss(make_order(), portfolio, limits, make_context())
    assert denial is not None
    assert denial.message == "DAILY_LOSS_LIMIT_REACHED: day loss 3.2% >= 3% on 2024-03-05"
    assert check_daily_loss(make_order(side=SELL, quantity="100"), portfolio, limits, make_context()) is None


@pytest.mark.parametrize(
    ("equity", "expected"),
    [("85001", None), ("85000", ReasonCode.MAX_DRAWDOWN_REACHED), ("84999", ReasonCode.MAX_DRAWDOWN_REACHED)],
)
def test_drawdown_trips_when_reached(equity: str, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(max_drawdown_pct=D("0.15"))
    portfolio = make_portfolio(equity, peak="100000")
    assert code_of(check_drawdown(make_order(), portfolio, limits, make_context())) == expected


def test_drawdown_lets_positions_be_closed() -> None:
    limits = LOOSE.with_changes(max_drawdown_pct=D("0.15"))
    portfolio = make_portfolio("70000", {"AAPL": ("100", "100")}, peak="100000")
    assert check_drawdown(make_order(side=SELL, quantity="100"), portfolio, limits, make_context()) is None


# --- trades per day ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trades_today", "expected"),
    [(4, None), (5, ReasonCode.MAX_TRADES_PER_DAY_REACHED), (6, ReasonCode.MAX_TRADES_PER_DAY_REACHED)],
)
def test_trades_per_day_trips_when_reached(trades_today: int, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(max_trades_per_day=5)
    portfolio = make_portfolio(trades_today=trades_today)
    assert code_of(check_trades_per_day(make_order(), portfolio, limits, make_context())) == expected


def test_trades_per_day_still_lets_a_position_close() -> None:
    limits = LOOSE.with_changes(max_trades_per_day=5)
    portfolio = make_portfolio("90000", {"AAPL": ("100", "100")}, trades_today=9)
    assert (
        check_trades_per_day(make_order(side=SELL, quantity="100"), portfolio, limits, make_context()) is None
    )


# --- volatility cap ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("volatility", "expected"),
    [("0.4999", None), ("0.5", None), ("0.5001", ReasonCode.VOLATILITY_CAP_EXCEEDED)],
)
def test_volatility_cap_at_under_and_over(volatility: str, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(max_symbol_volatility=D("0.5"))
    context = make_context(volatilities={"AAPL": D(volatility)})
    assert code_of(check_volatility(make_order(), make_portfolio(), limits, context)) == expected


def test_volatility_unknown_is_denied_unless_the_cap_is_off() -> None:
    capped = LOOSE.with_changes(max_symbol_volatility=D("0.5"))
    denial = check_volatility(make_order(), make_portfolio(), capped, make_context())
    assert code_of(denial) == ReasonCode.VOLATILITY_UNKNOWN
    assert check_volatility(make_order(), make_portfolio(), LOOSE, make_context()) is None


# --- sector concentration ----------------------------------------------------------------

SECTORS = {"AAPL": "Information Technology", "MSFT": "Information Technology", "XOM": "Energy"}


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("99", None), ("100", None), ("100.01", ReasonCode.SECTOR_CONCENTRATION_EXCEEDED)],
)
def test_sector_share_at_under_and_over(quantity: str, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(max_sector_pct=D("0.3"))
    portfolio = make_portfolio("70000", {"MSFT": ("200", "100"), "XOM": ("100", "100")})
    denial = check_sector_concentration(
        make_order(quantity=quantity), portfolio, limits, make_context(sectors=SECTORS)
    )
    assert code_of(denial) == expected


def test_sector_message_and_unknown_symbols_share_one_bucket() -> None:
    limits = LOOSE.with_changes(max_sector_pct=D("0.3"))
    portfolio = make_portfolio("80000", {"ZZZ": ("200", "100")})  # not in the map
    denial = check_sector_concentration(
        make_order("QQQ", quantity="150"), portfolio, limits, make_context(sectors=SECTORS)
    )
    assert denial is not None
    assert denial.message == "SECTOR_CONCENTRATION_EXCEEDED: Unknown 35% > 30% with QQQ"


# --- correlation concentration -----------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "correlation", "expected"),
    [
        ("99", "0.7", None),
        ("100", "0.7", None),
        ("101", "0.7", ReasonCode.CORRELATION_CONCENTRATION_EXCEEDED),
        ("101", "0.69", None),  # just under the threshold: not grouped
    ],
)
def test_correlated_group_share(quantity: str, correlation: str, expected: ReasonCode | None) -> None:
    limits = LOOSE.with_changes(max_correlated_pct=D("0.3"), correlation_threshold=D("0.7"))
    portfolio = make_portfolio("80000", {"MSFT": ("200", "100")})
    context = make_context(correlations=Correlations({("AAPL", "MSFT"): D(correlation)}))
    denial = check_correlation_concentration(make_order(quantity=quantity), portfolio, limits, context)
    assert code_of(denial) == expected


def test_correlation_checks_the_groups_of_correlated_holdings_too() -> None:
    # AAPL~MSFT and MSFT~GOOG, but AAPL and GOOG are not correlated: buying AAPL overloads MSFT's group.
    limits = LOOSE.with_changes(max_correlated_pct=D("0.5"), correlation_threshold=D("0.7"))
    correlations = Correlations(
        {("AAPL", "MSFT"): D("0.8"), ("GOOG", "MSFT"): D("0.8"), ("AAPL", "GOOG"): D("0.1")}
    )
    portfolio = make_portfolio("60000", {"MSFT": ("200", "100"), "GOOG": ("200", "100")})
    context = make_context(correlations=correlations)
    assert check_correlation_concentration(make_order(quantity="100"), portfolio, limits, context) is None
    denial = check_correlation_concentration(make_order(quantity="101"), portfolio, limits, context)
    assert denial is not None
    assert denial.message == (
        "CORRELATION_CONCENTRATION_EXCEEDED: "
        "MSFT and holdings correlated >= 0.7 (AAPL, GOOG, MSFT) 50.1% > 50%"
    )


# --- buying power ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("99", None), ("100", None), ("100.01", ReasonCode.INSUFFICIENT_BUYING_POWER)],
)
def test_buying_power_defaults_to_cash(quantity: str, expected: ReasonCode | None) -> None:
    portfolio = make_portfolio("10000")
    assert (
        code_of(check_buying_power(make_order(quantity=quantity), portfolio, LOOSE, make_context()))
        == expected
    )


def test_buying_power_from_the_broker_and_at_the_limit_price() -> None:
    portfolio = make_portfolio("10000")
    context = make_context(buying_power=D("20000"))
    assert check_buying_power(make_order(quantity="200"), portfolio, LOOSE, context) is None
    limit_buy = make_order(quantity="200", order_type=OrderType.LIMIT, limit_price="100.01")
    denial = check_buying_power(limit_buy, portfolio, LOOSE, context)
    assert denial is not None
    assert denial.message == "INSUFFICIENT_BUYING_POWER: AAPL needs 20002 > 20000 available"


def test_buying_power_charges_only_the_opening_part() -> None:
    portfolio = make_portfolio("0", {"AAPL": ("100", "100")})
    assert check_buying_power(make_order(side=SELL, quantity="100"), portfolio, LOOSE, make_context()) is None
    flip = make_order(side=SELL, quantity="101")  # one share short, needs 100 of buying power
    assert (
        code_of(check_buying_power(flip, portfolio, LOOSE, make_context()))
        == ReasonCode.INSUFFICIENT_BUYING_POWER
    )
    assert check_buying_power(flip, portfolio, LOOSE, make_context(buying_power=D("100"))) is None


# --- market session ----------------------------------------------------------------------


def test_market_session_regular_passes_closed_fails() -> None:
    assert check_market_session(make_order(), make_portfolio(), LOOSE, make_context()) is None
    closed = make_context(session=MarketSession.CLOSED)
    assert (
        code_of(check_market_session(make_order(), make_portfolio(), LOOSE, closed))
        == ReasonCode.MARKET_CLOSED
    )


@pytest.mark.parametrize("session", [MarketSession.PRE_MARKET, MarketSession.AFTER_HOURS])
def test_extended_hours_need_permission_and_a_limit_order(session: MarketSession) -> None:
    context = make_context(session=session)
    limit_order = make_order(order_type=OrderType.LIMIT, limit_price="100")
    extended = LOOSE.with_changes(allow_extended_hours=True)
    assert (
        code_of(check_market_session(limit_order, make_portfolio(), LOOSE, context))
        == ReasonCode.MARKET_CLOSED
    )
    assert check_market_session(limit_order, make_portfolio(), extended, context) is None
    market = check_market_session(make_order(), make_portfolio(), extended, context)
    assert market is not None
    assert "accepts only limit orders" in market.detail


@pytest.mark.parametrize(
    "session", [MarketSession.AFTER_HOURS, MarketSession.CLOSED, MarketSession.PRE_MARKET]
)
def test_end_of_day_orders_wait_for_the_open(session: MarketSession) -> None:
    queued = replace(make_context(session=session), queued_for_open=True)
    assert check_market_session(make_order(), make_portfolio(), LOOSE, queued) is None
    limit_order = make_order(order_type=OrderType.LIMIT, limit_price="100")
    assert check_market_session(limit_order, make_portfolio(), LOOSE, queued) is None
    stop = make_order(order_type=OrderType.STOP)
    denial = check_market_session(stop, make_portfolio(), LOOSE, queued)
    assert denial is not None and "can wait for the open" in denial.detail


# --- stale price -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priced_offset", "expected"),
    [(-1, ReasonCode.STALE_PRICE), (0, None), (1, None)],
)
def test_an_end_of_day_price_is_current_until_the_next_close(
    priced_offset: int, expected: ReasonCode | None
) -> None:
    last_close = NOW - seconds(3600 * 15)  # yesterday's close, hours before the open
    queued = replace(
        make_context(session=MarketSession.PRE_MARKET), queued_for_open=True, last_close_at=last_close
    )
    order = make_order(priced_at=last_close + seconds(priced_offset))
    assert code_of(check_stale_price(order, make_portfolio(), LOOSE, queued)) == expected


@pytest.mark.parametrize(
    ("age", "expected"),
    [(299, None), (300, None), (301, ReasonCode.STALE_PRICE)],
)
def test_stale_price_at_under_and_over(age: int, expected: ReasonCode | None) -> None:
    order = make_order(priced_at=NOW - seconds(age))
    assert code_of(check_stale_price(order, make_portfolio(), LOOSE, make_context())) == expected


# --- duplicate signal --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gap", "expected"),
    [(0, ReasonCode.DUPLICATE_SIGNAL), (299, ReasonCode.DUPLICATE_SIGNAL), (300, None), (301, None)],
)
def test_duplicate_signal_cooldown(gap: int, expected: ReasonCode | None) -> None:
    previous = NOW - seconds(600)
    portfolio = make_portfolio(last_signal_at={("sma_cross", "AAPL"): previous})
    order = make_order(strategy_name="sma_cross", signal_at=previous + seconds(gap))
    assert code_of(check_duplicate_signal(order, portfolio, LOOSE, make_context())) == expected


def test_duplicate_signal_is_per_strategy_and_symbol() -> None:
    previous = NOW - seconds(10)
    portfolio = make_portfolio(last_signal_at={("sma_cross", "AAPL"): previous})
    other_strategy = make_order(strategy_name="rsi", signal_at=NOW)
    other_symbol = make_order("MSFT", strategy_name="sma_cross", signal_at=NOW)
    manual = make_order()
    for order in (other_strategy, other_symbol, manual):
        assert check_duplicate_signal(order, portfolio, LOOSE, make_context()) is None


# --- shorting ----------------------------------------------------------------------------


def test_shorting_off_refuses_opening_or_flipping_short_but_allows_closing_and_covering() -> None:
    limits = LOOSE.with_changes(allow_shorting=False)
    long_100 = make_portfolio("90000", {"AAPL": ("100", "100")})
    assert check_shorting(make_order(side=SELL, quantity="100"), long_100, limits, make_context()) is None
    flip = check_shorting(make_order(side=SELL, quantity="101"), long_100, limits, make_context())
    assert flip is not None
    assert flip.message == "SHORTING_NOT_ALLOWED: AAPL would go to -1 shares and shorting is off"
    opening = check_shorting(make_order(side=SELL), make_portfolio(), limits, make_context())
    assert code_of(opening) == ReasonCode.SHORTING_NOT_ALLOWED
    legacy_short = make_portfolio("110000", {"AAPL": ("-100", "100")})
    assert check_shorting(make_order(side=BUY, quantity="40"), legacy_short, limits, make_context()) is None
    assert (
        check_shorting(make_order(side=SELL, quantity="1"), make_portfolio(), LOOSE, make_context()) is None
    )


# --- equity ------------------------------------------------------------------------------


def test_no_new_risk_without_positive_equity() -> None:
    broke = make_portfolio("-20000", {"AAPL": ("100", "100")})  # equity -10,000
    assert code_of(check_equity(make_order(), broke, LOOSE, make_context())) == ReasonCode.NON_POSITIVE_EQUITY
    assert check_equity(make_order(side=SELL, quantity="100"), broke, LOOSE, make_context()) is None
    assert check_equity(make_order(), make_portfolio("1"), LOOSE, make_context()) is None
