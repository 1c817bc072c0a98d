"""The broker's account as the risk rules see it: `AccountFacts` from the books the store read."""

from __future__ import annotations

from datetime import timedelta

from trader.adapters.db.stores.risk import Books
from trader.core.risk.context import AccountFacts


def account_facts(books: Books, max_age: timedelta | None, extra_day_trades: int = 0) -> AccountFacts:
    """`max_age` None: the simulated broker, whose account is the books' own, is never stale.
    `extra_day_trades`: day trades approved in this batch, not yet in any fill."""
    latest = books.latest_account
    problem = books.account_problem
    unusable = problem is not None and (latest is None or problem.seen_at >= latest.taken_at)
    day_trades = books.day_trading.made_after(None if latest is None else latest.taken_at)
    return AccountFacts(
        read_at=None if books.account is None else books.account.taken_at,
        max_age=max_age,
        problem=problem.message if unusable and problem is not None else None,
        day_trading_equity=None if latest is None else (latest.last_equity or latest.equity),
        pattern_day_trader=latest is not None and latest.pattern_day_trader,
        day_trades=(0 if latest is None else latest.daytrade_count) + day_trades + extra_day_trades,
        opened_today=books.day_trading.opened,
        shorting_enabled=latest is not None and latest.shorting_enabled,
    )


def broker_figures(books: Books) -> dict[str, object] | None:
    """The newest reading of the broker's account, for /risk/current-metrics."""
    latest = books.latest_account
    if latest is None:
        return None

    def money(value: object) -> str | None:
        return None if value is None else format(value, "f")

    return {
        "as_of": latest.taken_at.isoformat(),
        "source": latest.source,
        "equity": money(latest.equity),
        "cash": money(latest.cash),
        "buying_power": money(latest.buying_power),
        "long_market_value": money(latest.long_market_value),
        "short_market_value": money(latest.short_market_value),
        "last_equity": money(latest.last_equity),
        "pattern_day_trader": latest.pattern_day_trader,
        "daytrade_count": latest.daytrade_count,
        "in_step_with_books": latest.in_step,
        "problem": None if books.account_problem is None else books.account_problem.message,
    }
