"""Trading state and the policy that changes it.

ACTIVE trades normally; REDUCING lets through only orders that shrink a position; HALTED lets
through nothing new (cancels are not orders and never pass through the rules). Circuit breakers
only ever escalate; stepping back down is a person's decision, so it needs a reason and a name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from trader.core.events import TradingStateChanged
from trader.core.market import require_aware_utc
from trader.core.portfolio import Portfolio
from trader.core.risk.formatting import format_percent
from trader.core.risk.limits import RiskLimits


class TradingState(enum.StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}

SYSTEM_ACTOR = "risk_manager"


class StateChangeError(ValueError):
    """A requested state change that the policy refuses (no reason given, nothing to change)."""


@dataclass(frozen=True, slots=True)
class StateChange:
    previous_state: TradingState
    state: TradingState
    reason: str
    changed_by: str
    changed_at: datetime

    def __post_init__(self) -> None:
        require_aware_utc(self.changed_at, "changed_at")

    def to_event(self) -> TradingStateChanged:
        return TradingStateChanged(
            occurred_at=self.changed_at,
            previous_state=self.previous_state.value,
            state=self.state.value,
            reason=self.reason,
            changed_by=self.changed_by,
        )


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """What a tripped breaker does: the state each one moves trading to, and whether every position
    is then closed. By default drawdown halts and a day's loss only stops new risk, because closing
    positions is then exactly what one wants to be able to do."""

    daily_loss_state: TradingState = TradingState.REDUCING
    drawdown_state: TradingState = TradingState.HALTED
    flatten: bool = False

    def __post_init__(self) -> None:
        for name in ("daily_loss_state", "drawdown_state"):
            if getattr(self, name) is TradingState.ACTIVE:
                raise ValueError(f"a tripped breaker moves trading to reducing or halted, not {name}=active")


DEFAULT_BREAKERS = BreakerPolicy()


def breaker_state(
    portfolio: Portfolio, limits: RiskLimits, policy: BreakerPolicy = DEFAULT_BREAKERS
) -> tuple[TradingState, str]:
    """The state the circuit breakers demand for this portfolio, with why (the stricter one when
    both have tripped)."""
    tripped: list[tuple[TradingState, str]] = []
    drawdown = portfolio.drawdown
    if drawdown >= limits.max_drawdown_pct:
        tripped.append(
            (
                policy.drawdown_state,
                f"MAX_DRAWDOWN_REACHED: drawdown {format_percent(drawdown, limits.max_drawdown_pct)}"
                f" >= {format_percent(limits.max_drawdown_pct)}",
            )
        )
    loss = -portfolio.daily_return
    if loss >= limits.daily_loss_limit_pct:
        tripped.append(
            (
                policy.daily_loss_state,
                f"DAILY_LOSS_LIMIT_REACHED: day loss {format_percent(loss, limits.daily_loss_limit_pct)}"
                f" >= {format_percent(limits.daily_loss_limit_pct)} on {portfolio.trading_day.isoformat()}",
            )
        )
    if not tripped:
        return TradingState.ACTIVE, ""
    return max(tripped, key=lambda item: item[0].severity)


def apply_breakers(
    current: TradingState,
    portfolio: Portfolio,
    limits: RiskLimits,
    evaluated_at: datetime,
    policy: BreakerPolicy = DEFAULT_BREAKERS,
) -> StateChange | None:
    """Escalate the state if a breaker has tripped; never lower it."""
    demanded, reason = breaker_state(portfolio, limits, policy)
    if demanded.severity <= current.severity:
        return None
    return StateChange(current, demanded, reason, SYSTEM_ACTOR, evaluated_at)


def _require_reason(reason: str, changed_by: str) -> None:
    if not reason.strip():
        raise StateChangeError("a trading state change needs a reason")
    if not changed_by.strip():
        raise StateChangeError("a trading state change needs the name of who made it")


def emergency_shutdown(
    current: TradingState, reason: str, changed_by: str, changed_at: datetime
) -> StateChange:
    """Halt everything new (the maintenance service's emergency shutdown)."""
    _require_reason(reason, changed_by)
    return StateChange(current, TradingState.HALTED, reason.strip(), changed_by.strip(), changed_at)


def reduce_only(current: TradingState, reason: str, changed_by: str, changed_at: datetime) -> StateChange:
    """Let positions be closed but not opened or grown."""
    _require_reason(reason, changed_by)
    if current is TradingState.REDUCING:
        raise StateChangeError("trading is already reduce-only")
    return StateChange(current, TradingState.REDUCING, reason.strip(), changed_by.strip(), changed_at)


def resume(
    current: TradingState,
    reason: str,
    changed_by: str,
    changed_at: datetime,
    target: TradingState = TradingState.ACTIVE,
) -> StateChange:
    """Step down from HALTED or REDUCING. The caller has authenticated `changed_by`."""
    _require_reason(reason, changed_by)
    if target.severity >= current.severity:
        raise StateChangeError(
            f"cannot resume from {current.value} to {target.value}: that is not a step down"
        )
    return StateChange(current, target, reason.strip(), changed_by.strip(), changed_at)
