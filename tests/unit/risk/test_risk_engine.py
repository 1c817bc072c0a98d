"""The engine: every reason collected, and the trading state's gate."""

from __future__ import annotations

from tests.unit.risk.risk_builders import LOOSE, NOW, D, make_context, make_order, make_portfolio, seconds
from trader.core.orders import OrderSide
from trader.core.risk.context import MarketSession
from trader.core.risk.engine import evaluate
from trader.core.risk.limits import RiskLimits
from trader.core.risk.projection import project
from trader.core.risk.reasons import ReasonCode
from trader.core.risk.state import TradingState

SELL = OrderSide.SELL


def test_a_sound_order_is_approved_with_no_reasons() -> None:
    decision = evaluate(make_order(), make_portfolio(), LOOSE, make_context())
    assert decision.approved
    assert decision.reasons == ()
    assert decision.evaluated_at == NOW
    assert decision.trading_state is TradingState.ACTIVE


def test_every_failing_rule_is_reported_not_just_the_first() -> None:
    limits = LOOSE.with_changes(
        max_position_pct=D("0.2"), max_order_notional=D("20000"), allow_shorting=False
    )
    order = make_order(side=SELL, quantity="231", priced_at=NOW - seconds(400))
    context = make_context(session=MarketSession.CLOSED)
    decision = evaluate(order, make_portfolio(), limits, context)
    assert not decision.approved
    assert decision.codes == (
        ReasonCode.MARKET_CLOSED,
        ReasonCode.STALE_PRICE,
        ReasonCode.SHORTING_NOT_ALLOWED,
        ReasonCode.ORDER_NOTIONAL_ABOVE_MAX,
        ReasonCode.MAX_POSITION_PCT_EXCEEDED,
    )
    assert "MAX_POSITION_PCT_EXCEEDED: AAPL 23.1% > 20%" in decision.reasons


def test_default_limits_deny_a_symbol_without_volatility_and_approve_it_with_one() -> None:
    limits = RiskLimits()
    order = make_order(quantity="50")
    assert evaluate(order, make_portfolio(), limits, make_context()).codes == (ReasonCode.VOLATILITY_UNKNOWN,)
    context = make_context(volatilities={"AAPL": D("0.3")})
    assert evaluate(order, make_portfolio(), limits, context).approved


def test_halted_denies_everything_even_closing_a_position() -> None:
    portfolio = make_portfolio("90000", {"AAPL": ("100", "100")})
    context = make_context(trading_state=TradingState.HALTED)
    for order in (make_order(), make_order(side=SELL, quantity="100")):
        decision = evaluate(order, portfolio, LOOSE, context)
        assert decision.codes[0] is ReasonCode.TRADING_HALTED
        assert decision.trading_state is TradingState.HALTED


def test_reducing_allows_only_orders_that_shrink_a_position() -> None:
    portfolio = make_portfolio("90000", {"AAPL": ("100", "100")})
    context = make_context(trading_state=TradingState.REDUCING)
    assert evaluate(make_order(side=SELL, quantity="40"), portfolio, LOOSE, context).approved
    assert evaluate(make_order(side=SELL, quantity="100"), portfolio, LOOSE, context).approved
    flip = evaluate(make_order(side=SELL, quantity="101"), portfolio, LOOSE, context)
    assert flip.codes == (ReasonCode.TRADING_REDUCING_ONLY,)
    assert flip.reasons == ("TRADING_REDUCING_ONLY: sell 101 AAPL does not reduce the position of 100",)
    add = evaluate(make_order(quantity="1"), portfolio, LOOSE, context)
    assert add.codes == (ReasonCode.TRADING_REDUCING_ONLY,)
    fresh = evaluate(make_order("MSFT", quantity="1"), portfolio, LOOSE, context)
    assert fresh.codes == (ReasonCode.TRADING_REDUCING_ONLY,)


def test_rules_can_be_chosen_by_the_caller() -> None:
    limits = LOOSE.with_changes(allow_shorting=False)
    decision = evaluate(make_order(side=SELL), make_portfolio(), limits, make_context(), rules=())
    assert decision.approved


def test_projection_is_reused_for_the_same_order_and_portfolio_and_redone_for_another() -> None:
    order, portfolio = make_order(quantity="10"), make_portfolio()
    first = project(order, portfolio)
    assert project(order, portfolio) is first
    other = project(make_order(quantity="20"), portfolio)
    assert other is not first
    assert other.quantity_after == first.quantity_after + D("10")
