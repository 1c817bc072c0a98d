"""Reason codes and the denial/decision values the risk engine returns.

A denial reads `CODE: detail`, e.g. `MAX_POSITION_PCT_EXCEEDED: AAPL 23.1% > 20%`; the code is
what the guide's rejection-reason queries group by, the detail is what a person acts on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from trader.core.risk.proposal import ProposedOrder
from trader.core.risk.state import TradingState


class ReasonCode(enum.StrEnum):
    TRADING_HALTED = "TRADING_HALTED"
    TRADING_REDUCING_ONLY = "TRADING_REDUCING_ONLY"
    MAX_POSITION_PCT_EXCEEDED = "MAX_POSITION_PCT_EXCEEDED"
    MAX_GROSS_EXPOSURE_EXCEEDED = "MAX_GROSS_EXPOSURE_EXCEEDED"
    MAX_OPEN_POSITIONS_EXCEEDED = "MAX_OPEN_POSITIONS_EXCEEDED"
    ORDER_NOTIONAL_BELOW_MIN = "ORDER_NOTIONAL_BELOW_MIN"
    ORDER_NOTIONAL_ABOVE_MAX = "ORDER_NOTIONAL_ABOVE_MAX"
    DAILY_LOSS_LIMIT_REACHED = "DAILY_LOSS_LIMIT_REACHED"
    MAX_DRAWDOWN_REACHED = "MAX_DRAWDOWN_REACHED"
    MAX_TRADES_PER_DAY_REACHED = "MAX_TRADES_PER_DAY_REACHED"
    VOLATILITY_CAP_EXCEEDED = "VOLATILITY_CAP_EXCEEDED"
    VOLATILITY_UNKNOWN = "VOLATILITY_UNKNOWN"
    SECTOR_CONCENTRATION_EXCEEDED = "SECTOR_CONCENTRATION_EXCEEDED"
    CORRELATION_CONCENTRATION_EXCEEDED = "CORRELATION_CONCENTRATION_EXCEEDED"
    INSUFFICIENT_BUYING_POWER = "INSUFFICIENT_BUYING_POWER"
    MARKET_CLOSED = "MARKET_CLOSED"
    STALE_PRICE = "STALE_PRICE"
    DUPLICATE_SIGNAL = "DUPLICATE_SIGNAL"
    SHORTING_NOT_ALLOWED = "SHORTING_NOT_ALLOWED"
    NON_POSITIVE_EQUITY = "NON_POSITIVE_EQUITY"
    ACCOUNT_STALE = "ACCOUNT_STALE"
    ACCOUNT_UNUSABLE = "ACCOUNT_UNUSABLE"
    NEGATIVE_BUYING_POWER = "NEGATIVE_BUYING_POWER"
    PATTERN_DAY_TRADE_LIMIT = "PATTERN_DAY_TRADE_LIMIT"
    PROTECTIVE_LEVEL_WRONG_SIDE = "PROTECTIVE_LEVEL_WRONG_SIDE"


@dataclass(frozen=True, slots=True)
class Denial:
    code: ReasonCode
    detail: str

    @property
    def message(self) -> str:
        return f"{self.code.value}: {self.detail}"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The recorded outcome for one proposed order: approved when nothing denied it."""

    order: ProposedOrder
    denials: tuple[Denial, ...]
    evaluated_at: datetime
    trading_state: TradingState

    @property
    def approved(self) -> bool:
        return not self.denials

    @property
    def codes(self) -> tuple[ReasonCode, ...]:
        return tuple(denial.code for denial in self.denials)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Every denial as `CODE: detail`, in the order the rules ran (what OrderDenied carries)."""
        return tuple(denial.message for denial in self.denials)
