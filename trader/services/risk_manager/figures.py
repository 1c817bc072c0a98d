"""Market figures the risk rules are fed with; they live in `trader.core.risk.market_figures`, where the
backtester through the risk manager computes them with the same code."""

from trader.core.risk.market_figures import (
    AFTER_HOURS_CLOSES,
    PRE_MARKET_OPENS,
    REGULAR_SESSION_MINUTES,
    TRADING_DAYS_PER_YEAR,
    VAR_CONFIDENCE,
    Closes,
    ValueAtRisk,
    aligned_returns,
    correlations_of,
    day_started_at,
    latest_atr,
    market_session,
    periods_per_year,
    portfolio_var,
    symbol_volatility,
)

__all__ = [
    "AFTER_HOURS_CLOSES",
    "PRE_MARKET_OPENS",
    "REGULAR_SESSION_MINUTES",
    "TRADING_DAYS_PER_YEAR",
    "VAR_CONFIDENCE",
    "Closes",
    "ValueAtRisk",
    "aligned_returns",
    "correlations_of",
    "day_started_at",
    "latest_atr",
    "market_session",
    "periods_per_year",
    "portfolio_var",
    "symbol_volatility",
]
