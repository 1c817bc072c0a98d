"""The pre-trade rules, one pure function each: `(order, portfolio, limits, context) -> Denial | None`.

Conventions every rule keeps:
- Caps are inclusive: a figure exactly at its limit passes, a hair over is denied.
  Breakers (daily loss, drawdown, trades per day) trip when the limit is reached.
- Figures are judged on the portfolio as it would be after the order fills (see projection).
- An order that only shrinks a position is exempt from the limits on risk taken (size,
  exposure, concentration, counts, loss breakers, minimum notional, volatility, equity), so
  risk can always be cut. It is never exempt from the checks on the order itself: market
  session, stale price, maximum notional (fat fingers), duplicate signal and shorting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from trader.core.orders import OrderType
from trader.core.portfolio import Portfolio
from trader.core.protective import wrong_side
from trader.core.risk.account_rules import (
    check_account_reading,
    check_negative_buying_power,
    check_pattern_day_trades,
    short_refusal,
)
from trader.core.risk.context import MarketSession, RiskContext
from trader.core.risk.formatting import format_money, format_number, format_percent
from trader.core.risk.limits import RiskLimits
from trader.core.risk.projection import Projection, project
from trader.core.risk.proposal import ProposedOrder
from trader.core.risk.reasons import Denial, ReasonCode

Rule = Callable[[ProposedOrder, Portfolio, RiskLimits, RiskContext], Denial | None]

_ZERO = Decimal(0)


def _share(amount: Decimal, projection: Projection) -> Decimal | None:
    """`amount` as a fraction of equity after the order; None when equity is not positive
    (check_equity denies that case on its own)."""
    equity = projection.after.equity
    if equity <= 0:
        return None
    return amount / equity


def check_equity(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    if projection.is_reducing or projection.after.equity > 0:
        return None
    return Denial(
        ReasonCode.NON_POSITIVE_EQUITY,
        f"equity {format_money(projection.after.equity)} leaves no room for new risk",
    )


def check_position_size(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    if projection.is_reducing:
        return None
    share = _share(projection.after.exposure_of(order.symbol), projection)
    if share is None or share <= limits.max_position_pct:
        return None
    limit = limits.max_position_pct
    return Denial(
        ReasonCode.MAX_POSITION_PCT_EXCEEDED,
        f"{order.symbol} {format_percent(share, limit)} > {format_percent(limit)}",
    )


def check_gross_exposure(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    if projection.is_reducing:
        return None
    share = _share(projection.after.gross_exposure, projection)
    if share is None or share <= limits.max_gross_exposure_pct:
        return None
    limit = limits.max_gross_exposure_pct
    return Denial(
        ReasonCode.MAX_GROSS_EXPOSURE_EXCEEDED,
        f"gross exposure {format_percent(share, limit)} of equity > {format_percent(limit)}",
    )


def check_open_positions(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    if projection.quantity_before != 0:
        return None
    count = projection.after.open_position_count
    if count <= limits.max_open_positions:
        return None
    return Denial(
        ReasonCode.MAX_OPEN_POSITIONS_EXCEEDED,
        f"{order.symbol} would be open position {count} > {limits.max_open_positions}",
    )


def check_order_notional(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    notional = order.notional
    if notional > limits.max_order_notional:
        return Denial(
            ReasonCode.ORDER_NOTIONAL_ABOVE_MAX,
            f"{order.symbol} {format_money(notional, limits.max_order_notional)}"
            f" > {format_money(limits.max_order_notional)}",
        )
    if notional < limits.min_order_notional and not project(order, portfolio).is_reducing:
        return Denial(
            ReasonCode.ORDER_NOTIONAL_BELOW_MIN,
            f"{order.symbol} {format_money(notional, limits.min_order_notional)}"
            f" < {format_money(limits.min_order_notional)}",
        )
    return None


def check_daily_loss(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    if projection.is_reducing:
        return None
    loss = -projection.after.daily_return
    if loss < limits.daily_loss_limit_pct:
        return None
    limit = limits.daily_loss_limit_pct
    return Denial(
        ReasonCode.DAILY_LOSS_LIMIT_REACHED,
        f"day loss {format_percent(loss, limit)} >= {format_percent(limit)}"
        f" on {projection.after.trading_day.isoformat()}",
    )


def check_drawdown(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    if projection.is_reducing:
        return None
    drawdown = projection.after.drawdown
    if drawdown < limits.max_drawdown_pct:
        return None
    limit = limits.max_drawdown_pct
    return Denial(
        ReasonCode.MAX_DRAWDOWN_REACHED,
        f"drawdown {format_percent(drawdown, limit)} >= {format_percent(limit)}",
    )


def check_trades_per_day(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    if portfolio.trades_today < limits.max_trades_per_day or project(order, portfolio).is_reducing:
        return None
    return Denial(
        ReasonCode.MAX_TRADES_PER_DAY_REACHED,
        f"{portfolio.trades_today} trades on {portfolio.trading_day.isoformat()}"
        f" >= {limits.max_trades_per_day}",
    )


def check_volatility(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    cap = limits.max_symbol_volatility
    if cap is None or project(order, portfolio).is_reducing:
        return None
    volatility = context.volatilities.get(order.symbol)
    if volatility is None:
        return Denial(
            ReasonCode.VOLATILITY_UNKNOWN,
            f"{order.symbol} has no volatility estimate; the cap of {format_percent(cap)} cannot be checked",
        )
    if volatility <= cap:
        return None
    return Denial(
        ReasonCode.VOLATILITY_CAP_EXCEEDED,
        f"{order.symbol} annualised volatility {format_percent(volatility, cap)} > {format_percent(cap)}",
    )


def sector_share(portfolio: Portfolio, sector: str, context: RiskContext) -> Decimal | None:
    """Absolute exposure of one sector as a fraction of equity (None when equity is not positive)."""
    equity = portfolio.equity
    if equity <= 0:
        return None
    exposure = sum(
        (
            portfolio.exposure_of(p.symbol)
            for p in portfolio.open_positions
            if context.sector_of(p.symbol) == sector
        ),
        _ZERO,
    )
    return exposure / equity


def check_sector_concentration(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    if projection.is_reducing:
        return None
    sector = context.sector_of(order.symbol)
    share = sector_share(projection.after, sector, context)
    if share is None or share <= limits.max_sector_pct:
        return None
    return Denial(
        ReasonCode.SECTOR_CONCENTRATION_EXCEEDED,
        f"{sector} {format_percent(share, limits.max_sector_pct)} > {format_percent(limits.max_sector_pct)}"
        f" with {order.symbol}",
    )


def correlated_group(
    portfolio: Portfolio, symbol: str, limits: RiskLimits, context: RiskContext
) -> tuple[str, ...]:
    """`symbol` and every open holding whose correlation with it is at least the threshold.

    Pairs of unknown correlation count as uncorrelated: there is nothing to measure them by.
    """
    holdings = [position.symbol for position in portfolio.open_positions]
    return (symbol, *context.correlations.at_least(symbol, holdings, limits.correlation_threshold))


def group_share(portfolio: Portfolio, symbols: tuple[str, ...]) -> Decimal | None:
    equity = portfolio.equity
    if equity <= 0:
        return None
    return portfolio.exposure_of_all(symbols) / equity


def check_correlation_concentration(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    if projection.is_reducing:
        return None
    after = projection.after
    # The order changes every group it belongs to: its own, and that of each holding it is
    # correlated with (correlation is not transitive, so those groups differ).
    centres = correlated_group(after, order.symbol, limits, context)
    worst: tuple[Decimal, str, tuple[str, ...]] | None = None
    for centre in centres:
        group = correlated_group(after, centre, limits, context)
        share = group_share(after, group)
        if share is not None and share > limits.max_correlated_pct and (worst is None or share > worst[0]):
            worst = (share, centre, group)
    if worst is None:
        return None
    share, centre, group = worst
    members = ", ".join(sorted(group))
    return Denial(
        ReasonCode.CORRELATION_CONCENTRATION_EXCEEDED,
        f"{centre} and holdings correlated >= {format_number(limits.correlation_threshold)} ({members})"
        f" {format_percent(share, limits.max_correlated_pct)} > {format_percent(limits.max_correlated_pct)}",
    )


def check_buying_power(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    required = projection.opened_quantity * order.risk_price
    if required == 0:
        return None
    available = portfolio.cash if context.buying_power is None else context.buying_power
    if required <= available:
        return None
    return Denial(
        ReasonCode.INSUFFICIENT_BUYING_POWER,
        f"{order.symbol} needs {format_money(required, available)} > {format_money(available)} available",
    )


def check_market_session(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    session = context.session
    if session is MarketSession.REGULAR:
        return None
    if context.queued_for_open:
        if order.order_type in (OrderType.MARKET, OrderType.LIMIT):
            return None
        return Denial(
            ReasonCode.MARKET_CLOSED,
            f"{order.symbol}: only market and limit orders can wait for the open,"
            f" got {order.order_type.value}",
        )
    if session is MarketSession.CLOSED:
        return Denial(ReasonCode.MARKET_CLOSED, f"{order.symbol}: the market is closed")
    if not limits.allow_extended_hours:
        return Denial(
            ReasonCode.MARKET_CLOSED,
            f"{order.symbol}: {session.value} session and extended hours are not allowed",
        )
    # Brokers take only limit orders outside the regular session.
    if order.order_type is not OrderType.LIMIT:
        return Denial(
            ReasonCode.MARKET_CLOSED,
            f"{order.symbol}: {session.value} session accepts only limit orders,"
            f" got {order.order_type.value}",
        )
    return None


def check_stale_price(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    if context.queued_for_open and context.last_close_at is not None:
        if order.priced_at >= context.last_close_at:
            return None
        return Denial(
            ReasonCode.STALE_PRICE,
            f"{order.symbol} price from {order.priced_at.isoformat()} predates the latest close"
            f" {context.last_close_at.isoformat()}",
        )
    age = context.evaluated_at - order.priced_at
    limit = timedelta(seconds=limits.max_price_age_seconds)
    if age <= limit:
        return None
    seconds = format_number(Decimal(age.total_seconds()))
    return Denial(
        ReasonCode.STALE_PRICE,
        f"{order.symbol} price from {order.priced_at.isoformat()} is {seconds}s old"
        f" > {limits.max_price_age_seconds}s",
    )


def check_duplicate_signal(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    if not order.strategy_name or order.signal_at is None or limits.signal_cooldown_seconds == 0:
        return None
    previous = portfolio.last_signal_at.get((order.strategy_name, order.symbol))
    if previous is None:
        return None
    gap = order.signal_at - previous
    if gap >= timedelta(seconds=limits.signal_cooldown_seconds):
        return None
    return Denial(
        ReasonCode.DUPLICATE_SIGNAL,
        f"{order.strategy_name} signalled {order.symbol} {format_number(Decimal(gap.total_seconds()))}s after"
        f" the previous signal < {limits.signal_cooldown_seconds}s cooldown",
    )


def check_shorting(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    projection = project(order, portfolio)
    if projection.quantity_after >= 0 or projection.quantity_after >= projection.quantity_before:
        return None
    if not limits.allow_shorting:
        return Denial(
            ReasonCode.SHORTING_NOT_ALLOWED,
            f"{order.symbol} would go to {format_number(projection.quantity_after)} shares"
            " and shorting is off",
        )
    refusal = short_refusal(order, context)
    return None if refusal is None else Denial(ReasonCode.SHORTING_NOT_ALLOWED, refusal)


def check_protective_levels(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    """A bracket whose stop (or target) is on the wrong side of the price would be refused by the
    broker, or fill at once: it is denied here, before anything is sent."""
    problems = wrong_side(
        order.side,
        order.reference_price,
        stop_loss=order.stop_loss_price,
        take_profit=order.take_profit_price,
    )
    if not problems:
        return None
    return Denial(ReasonCode.PROTECTIVE_LEVEL_WRONG_SIDE, f"{order.symbol}: {'; '.join(problems)}")


ALL_RULES: tuple[Rule, ...] = (
    check_protective_levels,
    check_account_reading,
    check_negative_buying_power,
    check_pattern_day_trades,
    check_market_session,
    check_stale_price,
    check_duplicate_signal,
    check_shorting,
    check_order_notional,
    check_buying_power,
    check_equity,
    check_position_size,
    check_gross_exposure,
    check_open_positions,
    check_sector_concentration,
    check_correlation_concentration,
    check_volatility,
    check_daily_loss,
    check_drawdown,
    check_trades_per_day,
)
