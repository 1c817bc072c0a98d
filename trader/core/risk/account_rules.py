"""The rules on the broker's account and the US retail rules, in the shape of `rules.py`'s.

They read the `AccountFacts` in the context; without them (a backtest on its own books) they pass.
An order that only shrinks a position is exempt from the account checks, so risk can always be cut
even when the broker's account cannot be read, but never from the pattern-day-trader guard: it is
exactly a closing order that makes a day trade, and the broker refuses it below the threshold.
"""

from __future__ import annotations

from decimal import Decimal

from trader.core.portfolio import Portfolio
from trader.core.risk.context import (
    MAX_DAY_TRADES_UNDER_THRESHOLD,
    PATTERN_DAY_TRADER_EQUITY,
    RiskContext,
)
from trader.core.risk.formatting import format_money, format_number
from trader.core.risk.limits import RiskLimits
from trader.core.risk.projection import project
from trader.core.risk.proposal import ProposedOrder
from trader.core.risk.reasons import Denial, ReasonCode


def check_account_reading(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    account = context.account
    if account is None or project(order, portfolio).is_reducing:
        return None
    if account.problem is not None:
        return Denial(ReasonCode.ACCOUNT_UNUSABLE, f"{order.symbol}: {account.problem}")
    if account.max_age is None:
        return None
    if account.read_at is None:
        return Denial(ReasonCode.ACCOUNT_STALE, f"{order.symbol}: no reading of the broker's account yet")
    age = context.evaluated_at - account.read_at
    if age <= account.max_age:
        return None
    return Denial(
        ReasonCode.ACCOUNT_STALE,
        f"{order.symbol}: the broker's account was last read in step with the books at"
        f" {account.read_at.isoformat()}, {format_number(Decimal(age.total_seconds()))}s ago"
        f" > {format_number(Decimal(account.max_age.total_seconds()))}s",
    )


def check_negative_buying_power(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    buying_power = context.buying_power
    if context.account is None or buying_power is None or buying_power >= 0:
        return None
    if project(order, portfolio).is_reducing:
        return None
    return Denial(
        ReasonCode.NEGATIVE_BUYING_POWER,
        f"{order.symbol}: the broker reports buying power {format_money(buying_power)}",
    )


def makes_day_trade(order: ProposedOrder, portfolio: Portfolio, context: RiskContext) -> bool:
    """Whether the order closes (part of) a position opened today, in today's session. An order
    queued for the next open fills in a session where nothing has been opened yet."""
    account = context.account
    if account is None or context.queued_for_open:
        return False
    projection = project(order, portfolio)
    held, after = projection.quantity_before, projection.quantity_after
    closes_some = held != 0 and (abs(after) < abs(held) or after * held < 0)
    if not closes_some:
        return False
    side = "long" if held > 0 else "short"
    return (order.symbol, side) in account.opened_today


def check_pattern_day_trades(
    order: ProposedOrder, portfolio: Portfolio, limits: RiskLimits, context: RiskContext
) -> Denial | None:
    account = context.account
    if account is None or not makes_day_trade(order, portfolio, context):
        return None
    equity = account.day_trading_equity
    if equity is None:
        equity = portfolio.equity
    if equity >= PATTERN_DAY_TRADER_EQUITY:
        return None
    threshold = format_money(PATTERN_DAY_TRADER_EQUITY)
    if account.pattern_day_trader:
        return Denial(
            ReasonCode.PATTERN_DAY_TRADE_LIMIT,
            f"{order.side.value} {order.symbol} would be a day trade; the account is flagged as a"
            f" pattern day trader with equity {format_money(equity)} < {threshold}",
        )
    if account.day_trades < MAX_DAY_TRADES_UNDER_THRESHOLD:
        return None
    return Denial(
        ReasonCode.PATTERN_DAY_TRADE_LIMIT,
        f"{order.side.value} {order.symbol} would be day trade {account.day_trades + 1} in five business"
        f" days; equity {format_money(equity)} < {threshold} allows {MAX_DAY_TRADES_UNDER_THRESHOLD}",
    )


def short_refusal(order: ProposedOrder, context: RiskContext) -> str | None:
    """Why the broker would not let this order open or grow a short (None: it would)."""
    account = context.account
    if account is None:
        return None
    if not account.shorting_enabled:
        return f"{order.symbol}: the broker account does not allow shorting"
    if not context.shortable.get(order.symbol, False):
        return f"{order.symbol}: the broker does not list the asset as shortable"
    return None
