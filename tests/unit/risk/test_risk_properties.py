"""Property: an approved order never leaves the portfolio beyond any limit.

The approved order is applied to the portfolio and every limit is measured again, here, by
plain loops over positions and marks (not through the rules' own helpers). Each figure must be
within its limit after the order, or — for an order that only cuts a position — no worse than
before it. A second property starts from portfolios inside every limit and checks they stay inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trader.core.orders import OrderSide, OrderType
from trader.core.portfolio import Mark, Portfolio, apply_fill, mark_to_market, record_trade
from trader.core.positions import Position
from trader.core.risk.context import MarketSession, RiskContext
from trader.core.risk.correlation import Correlations
from trader.core.risk.engine import evaluate
from trader.core.risk.limits import RiskLimits
from trader.core.risk.proposal import ProposedOrder
from trader.core.risk.state import TradingState

D = Decimal
NOW = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "GOOG", "XOM", "JPM")
SECTOR_MAP = {"AAPL": "Tech", "MSFT": "Tech", "GOOG": "Tech", "XOM": "Energy"}  # JPM: Unknown


@dataclass(frozen=True)
class Case:
    portfolio: Portfolio
    order: ProposedOrder
    limits: RiskLimits
    context: RiskContext


# Weighted so that most examples can be approved at all.
STATES = [TradingState.ACTIVE] * 4 + [TradingState.REDUCING, TradingState.HALTED]
prices = st.integers(min_value=1, max_value=500).map(D)
fractions = st.integers(min_value=5, max_value=100).map(lambda n: D(n) / 100)
limits_fractions = st.integers(min_value=10, max_value=100).map(lambda n: D(n) / 100)
volatilities = st.integers(min_value=5, max_value=60).map(lambda n: D(n) / 100)
order_shares = st.integers(min_value=1, max_value=300).map(lambda n: D(n) / 1000)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    allow_shorting = draw(st.booleans())
    holdings: dict[str, tuple[Decimal, Decimal]] = {}
    for symbol in draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=4)):
        low = -300 if allow_shorting else 1
        quantity = draw(st.integers(min_value=low, max_value=300).filter(lambda n: n != 0))
        holdings[symbol] = (D(quantity), draw(prices))
    cash = D(draw(st.integers(min_value=10_000, max_value=1_000_000)))
    positions = {s: Position(s, q, p) for s, (q, p) in holdings.items()}
    marks = {s: Mark(p, NOW) for s, (_, p) in holdings.items()}
    equity = cash + sum((q * p for q, p in holdings.values()), D(0))
    assume(equity > 0)
    portfolio = Portfolio(
        cash=cash,
        peak_equity=equity * draw(st.sampled_from([D("1"), D("1.02"), D("1.2")])),
        day_start_equity=equity * draw(st.sampled_from([D("0.9"), D("1"), D("1.02"), D("1.2")])),
        trading_day=NOW.date(),
        positions=positions,
        marks=marks,
        trades_today=draw(st.integers(min_value=0, max_value=4)),
    )
    max_position = draw(limits_fractions)
    min_notional = D(draw(st.integers(min_value=0, max_value=500)))
    limits = RiskLimits(
        max_position_pct=max_position,
        max_gross_exposure_pct=max_position
        + draw(st.integers(min_value=0, max_value=150).map(lambda n: D(n) / 100)),
        max_open_positions=draw(st.integers(min_value=1, max_value=5)),
        min_order_notional=min_notional,
        max_order_notional=min_notional
        + (equity * draw(limits_fractions)).to_integral_value(rounding=ROUND_FLOOR),
        daily_loss_limit_pct=draw(fractions),
        max_drawdown_pct=draw(fractions),
        max_trades_per_day=draw(st.integers(min_value=1, max_value=10)),
        max_symbol_volatility=draw(st.none() | limits_fractions),
        max_sector_pct=draw(limits_fractions),
        max_correlated_pct=draw(limits_fractions),
        correlation_threshold=draw(fractions),
        allow_shorting=allow_shorting,
    )
    symbol = draw(st.sampled_from(SYMBOLS))
    reference = holdings[symbol][1] if symbol in holdings and draw(st.booleans()) else draw(prices)
    order_type = draw(st.sampled_from([OrderType.MARKET, OrderType.LIMIT]))
    limit_price = None
    if order_type is OrderType.LIMIT:
        limit_price = reference * draw(st.sampled_from([D("0.98"), D("1"), D("1.02")]))
    order = ProposedOrder(
        symbol=symbol,
        side=draw(st.sampled_from([OrderSide.BUY, OrderSide.SELL])),
        # Sized as a share of equity, so orders land near the limits as often as far beyond them.
        quantity=max(D(1), (equity * draw(order_shares) / reference).to_integral_value(rounding=ROUND_FLOOR)),
        order_type=order_type,
        reference_price=reference,
        priced_at=NOW,
        limit_price=limit_price,
    )
    pairs = {}
    for first_index, first in enumerate(SYMBOLS):
        for second in SYMBOLS[first_index + 1 :]:
            if draw(st.booleans()):
                pairs[(first, second)] = D(draw(st.integers(min_value=-100, max_value=100))) / 100
    context = RiskContext(
        evaluated_at=NOW,
        session=MarketSession.REGULAR,
        trading_state=draw(st.sampled_from(STATES)),
        buying_power=draw(st.none() | limits_fractions.map(lambda f: (equity * f).to_integral_value())),
        volatilities={s: draw(volatilities) for s in SYMBOLS if draw(st.integers(0, 4))},
        sectors=SECTOR_MAP,
        correlations=Correlations(pairs),
    )
    return Case(portfolio, order, limits, context)


def figures(portfolio: Portfolio, limits: RiskLimits, context: RiskContext) -> dict[str, Decimal]:
    """Every limited figure, measured from scratch. Keys name the figure and its subject."""
    held = {s: p.quantity for s, p in portfolio.positions.items() if p.quantity != 0}
    value = {s: q * portfolio.marks[s].price for s, q in held.items()}
    equity = portfolio.cash + sum(value.values(), D(0))
    result: dict[str, Decimal] = {"open positions": D(len(held))}
    peak = max(portfolio.peak_equity, equity)
    result["drawdown"] = (peak - equity) / peak
    result["daily loss"] = (portfolio.day_start_equity - equity) / portfolio.day_start_equity
    if equity <= 0:
        return result
    result["gross"] = sum((abs(v) for v in value.values()), D(0)) / equity
    for symbol, amount in value.items():
        result[f"position {symbol}"] = abs(amount) / equity
        sector = SECTOR_MAP.get(symbol, "Unknown")
        result[f"sector {sector}"] = result.get(f"sector {sector}", D(0)) + abs(amount) / equity
        group = [
            other
            for other in value
            if other == symbol
            or (context.correlations.between(symbol, other) or D(-2)) >= limits.correlation_threshold
        ]
        result[f"correlated {symbol}"] = sum((abs(value[other]) for other in group), D(0)) / equity
    return result


def limit_of(name: str, limits: RiskLimits) -> Decimal:
    kind = name.split(" ")[0]
    return {
        "open": D(limits.max_open_positions),
        "drawdown": limits.max_drawdown_pct,
        "daily": limits.daily_loss_limit_pct,
        "gross": limits.max_gross_exposure_pct,
        "position": limits.max_position_pct,
        "sector": limits.max_sector_pct,
        "correlated": limits.max_correlated_pct,
    }[kind]


def within(name: str, value: Decimal, limits: RiskLimits) -> bool:
    # Caps pass at the limit; breakers (loss, drawdown) trip when it is reached.
    if name in ("drawdown", "daily loss"):
        return value < limit_of(name, limits)
    return value <= limit_of(name, limits)


def fill_approved(case: Case) -> tuple[Portfolio, Portfolio, bool]:
    """The portfolio before (marked at the order's price) and after the approved order fills there."""
    before = mark_to_market(case.portfolio, {case.order.symbol: Mark(case.order.reference_price, NOW)})
    price = before.marks[case.order.symbol].price
    after = record_trade(
        apply_fill(before, case.order.symbol, case.order.side, case.order.quantity, price, NOW)
    )
    held_before = before.position(case.order.symbol).quantity
    held_after = after.position(case.order.symbol).quantity
    reducing = held_before != 0 and abs(held_after) < abs(held_before) and held_after * held_before >= 0
    return before, after, reducing


def check_the_approved_order(case: Case) -> tuple[dict[str, Decimal], dict[str, Decimal], bool, Portfolio]:
    decision = evaluate(case.order, case.portfolio, case.limits, case.context)
    assume(decision.approved)
    before, after, reducing = fill_approved(case)
    assert case.context.trading_state is not TradingState.HALTED
    if case.context.trading_state is TradingState.REDUCING:
        assert reducing
    notional = case.order.quantity * case.order.risk_price
    assert notional <= case.limits.max_order_notional
    assert reducing or notional >= case.limits.min_order_notional
    assert case.limits.allow_shorting or after.position(case.order.symbol).quantity >= min(
        D(0), before.position(case.order.symbol).quantity
    )
    assert reducing or after.trades_today <= case.limits.max_trades_per_day
    if not reducing:
        volatility = case.context.volatilities.get(case.order.symbol)
        cap = case.limits.max_symbol_volatility
        assert cap is None or (volatility is not None and volatility <= cap)
    if not reducing:
        # Breakers: no new risk once the day's loss or the drawdown has reached its limit.
        measured = figures(before, case.limits, case.context)
        assert within("daily loss", measured["daily loss"], case.limits)
        assert within("drawdown", measured["drawdown"], case.limits)
        held_before = before.position(case.order.symbol).quantity
        held_after = after.position(case.order.symbol).quantity
        flipped = held_before * held_after < 0
        opened = abs(held_after) if flipped else abs(held_after) - abs(held_before)
        available = before.cash if case.context.buying_power is None else case.context.buying_power
        assert opened * case.order.risk_price <= available
    long_only = all(p.quantity >= 0 for p in before.positions.values())
    if case.context.buying_power is None and long_only:
        # Paid at the order's worst price, a cash account never goes below zero.
        signed = case.order.quantity if case.order.side is OrderSide.BUY else -case.order.quantity
        assert before.cash - signed * case.order.risk_price >= 0
    return (
        figures(before, case.limits, case.context),
        figures(after, case.limits, case.context),
        reducing,
        after,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=cases())
def test_an_approved_order_pushes_no_figure_beyond_its_limit(case: Case) -> None:
    before, after, reducing, _ = check_the_approved_order(case)
    for name, value in after.items():
        previous = before.get(name, D(0))
        assert within(name, value, case.limits) or value <= previous, (
            f"{name} went from {previous} to {value} past {limit_of(name, case.limits)}; reducing={reducing}"
        )


@st.composite
def cases_within_limits(draw: st.DrawFn) -> Case:
    case = draw(cases())
    # Judged at the order's price: a price move alone may already have pushed a figure over.
    marked = mark_to_market(case.portfolio, {case.order.symbol: Mark(case.order.reference_price, NOW)})
    current = figures(marked, case.limits, case.context)
    assume(all(within(name, value, case.limits) for name, value in current.items()))
    return case


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
@given(case=cases_within_limits())
def test_a_portfolio_within_its_limits_stays_within_them_after_an_approved_order(case: Case) -> None:
    _, after, _, _ = check_the_approved_order(case)
    for name, value in after.items():
        assert within(name, value, case.limits), f"{name} = {value} beyond {limit_of(name, case.limits)}"
