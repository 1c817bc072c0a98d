"""What the risk rules need to know besides the order, the portfolio and the limits.

All of it is passed in as values — the time, the market session, the broker's buying power,
per-symbol volatility, the sector map and correlations — so every rule is a pure function.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from trader.core.market import require_aware_utc
from trader.core.portfolio import read_only_copy
from trader.core.risk.correlation import Correlations
from trader.core.risk.state import TradingState

UNKNOWN_SECTOR = "Unknown"
# FINRA's pattern-day-trader threshold: below it, at most three day trades in five business days.
PATTERN_DAY_TRADER_EQUITY = Decimal(25_000)
MAX_DAY_TRADES_UNDER_THRESHOLD = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountFacts:
    """What the broker's latest account reading says, as the account rules read it.

    `read_at` is when the reading the books are sized on was taken (None: there is none);
    `max_age` how old it may be (None for the simulated broker, whose account is the books').
    `problem` says why the broker's latest answer could not be used. `day_trades` counts the
    last five business days: the broker's count plus the day trades the books made since.
    `opened_today` holds (symbol, "long" | "short") for each position opened or grown today."""

    read_at: datetime | None
    max_age: timedelta | None = None
    problem: str | None = None
    day_trading_equity: Decimal | None = None
    pattern_day_trader: bool = False
    day_trades: int = 0
    opened_today: frozenset[tuple[str, str]] = frozenset()
    shorting_enabled: bool = True


class MarketSession(enum.StrEnum):
    REGULAR = "regular"
    PRE_MARKET = "pre_market"
    AFTER_HOURS = "after_hours"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskContext:
    evaluated_at: datetime
    session: MarketSession
    trading_state: TradingState = TradingState.ACTIVE
    # What the broker says may be spent now; None means a cash account limited to our own cash.
    buying_power: Decimal | None = None
    # Annualised volatility per symbol (0.35 means 35%).
    volatilities: Mapping[str, Decimal] = field(default_factory=dict)
    # Symbol -> sector. Symbols missing from the map share the sector "Unknown", so an
    # incomplete map concentrates, rather than dissolves, the limit.
    sectors: Mapping[str, str] = field(default_factory=dict)
    correlations: Correlations = field(default_factory=Correlations)
    # Orders from end-of-day signals wait at the broker for the next session's open (the
    # next-bar-open fill rule the backtester uses), so a closed market does not refuse them and
    # a price from the latest finished session's close (`last_close_at`) is current.
    queued_for_open: bool = False
    last_close_at: datetime | None = None
    # The broker's account (None: not checked, as in a backtest); per symbol, what the broker
    # said of the asset (absent: not known, so no short and whole shares only).
    account: AccountFacts | None = None
    shortable: Mapping[str, bool] = field(default_factory=dict)
    fractionable: Mapping[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_aware_utc(self.evaluated_at, "evaluated_at")
        object.__setattr__(self, "volatilities", read_only_copy(self.volatilities))
        object.__setattr__(self, "sectors", read_only_copy(self.sectors))

    def sector_of(self, symbol: str) -> str:
        return self.sectors.get(symbol, UNKNOWN_SECTOR)
