"""Trading state policy: breakers escalate, people step down with a reason."""

from __future__ import annotations

import pytest

from tests.unit.risk.risk_builders import LOOSE, NOW, D, make_portfolio
from trader.core.events import TradingStateChanged, decode_event, encode_event
from trader.core.portfolio import reset_peak
from trader.core.risk.state import (
    BreakerPolicy,
    StateChangeError,
    TradingState,
    apply_breakers,
    breaker_state,
    emergency_shutdown,
    reduce_only,
    resume,
)

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
LIMITS = LOOSE.with_changes(daily_loss_limit_pct=D("0.03"), max_drawdown_pct=D("0.15"))


@pytest.mark.parametrize(
    ("equity", "day_start", "peak", "expected"),
    [
        ("97001", "100000", "100000", ACTIVE),
        ("97000", "100000", "100000", REDUCING),
        ("85001", "88000", "100000", REDUCING),
        ("85000", "85000", "100000", HALTED),
        ("84999", "84999", "100000", HALTED),
    ],
)
def test_breakers_demand_a_state(equity: str, day_start: str, peak: str, expected: TradingState) -> None:
    portfolio = make_portfolio(equity, day_start=day_start, peak=peak)
    assert breaker_state(portfolio, LIMITS)[0] is expected


def test_breakers_only_escalate() -> None:
    losing_day = make_portfolio("96000", day_start="100000")
    change = apply_breakers(ACTIVE, losing_day, LIMITS, NOW)
    assert change is not None
    assert (change.previous_state, change.state, change.changed_by) == (ACTIVE, REDUCING, "risk_manager")
    assert change.reason == "DAILY_LOSS_LIMIT_REACHED: day loss 4% >= 3% on 2024-03-05"
    assert apply_breakers(HALTED, losing_day, LIMITS, NOW) is None
    assert apply_breakers(REDUCING, make_portfolio(), LIMITS, NOW) is None
    deep = make_portfolio("80000", peak="100000")
    halt = apply_breakers(REDUCING, deep, LIMITS, NOW)
    assert halt is not None
    assert halt.state is HALTED
    assert halt.reason == "MAX_DRAWDOWN_REACHED: drawdown 20% >= 15%"


def test_resume_needs_a_reason_and_a_name_and_must_step_down() -> None:
    with pytest.raises(StateChangeError, match="reason"):
        resume(HALTED, "  ", "alice", NOW)
    with pytest.raises(StateChangeError, match="who"):
        resume(HALTED, "reviewed the losses", "", NOW)
    with pytest.raises(StateChangeError, match="not a step down"):
        resume(ACTIVE, "why not", "alice", NOW)
    with pytest.raises(StateChangeError, match="not a step down"):
        resume(REDUCING, "why not", "alice", NOW, target=HALTED)
    change = resume(HALTED, " reviewed the losses ", "alice", NOW, target=REDUCING)
    assert (change.state, change.reason, change.changed_by) == (REDUCING, "reviewed the losses", "alice")


def test_resuming_after_a_drawdown_halt_rebases_the_peak_so_the_breaker_does_not_retrip() -> None:
    deep = make_portfolio("80000", peak="100000")
    assert breaker_state(deep, LIMITS)[0] is HALTED
    assert breaker_state(reset_peak(deep), LIMITS)[0] is ACTIVE


def test_emergency_shutdown_halts_from_any_state_and_becomes_an_event() -> None:
    for state in TradingState:
        change = emergency_shutdown(state, "broker outage", "ops", NOW)
        assert change.state is HALTED
    with pytest.raises(StateChangeError):
        emergency_shutdown(ACTIVE, "", "ops", NOW)
    event = emergency_shutdown(ACTIVE, "broker outage", "ops", NOW).to_event()
    decoded = decode_event(encode_event(event))
    assert isinstance(decoded, TradingStateChanged)
    assert (decoded.previous_state, decoded.state, decoded.reason, decoded.changed_by) == (
        "active",
        "halted",
        "broker outage",
        "ops",
    )
    assert decoded.occurred_at == NOW


def test_reduce_only_is_a_manual_step() -> None:
    assert reduce_only(ACTIVE, "earnings season", "alice", NOW).state is REDUCING
    assert reduce_only(HALTED, "let closes through", "alice", NOW).state is REDUCING
    with pytest.raises(StateChangeError):
        reduce_only(REDUCING, "again", "alice", NOW)


def test_the_breakers_move_trading_to_the_states_configured() -> None:
    down_today = make_portfolio("95000", day_start="100000", peak="100000")
    deep = make_portfolio("80000", day_start="80000", peak="100000")
    both = make_portfolio("80000", day_start="100000", peak="100000")
    halting_losses = BreakerPolicy(daily_loss_state=TradingState.HALTED, drawdown_state=TradingState.REDUCING)

    assert breaker_state(down_today, LIMITS)[0] is TradingState.REDUCING
    assert breaker_state(down_today, LIMITS, halting_losses)[0] is TradingState.HALTED
    assert breaker_state(deep, LIMITS, halting_losses)[0] is TradingState.REDUCING
    state, why = breaker_state(both, LIMITS, halting_losses)
    assert state is TradingState.HALTED and why.startswith("DAILY_LOSS_LIMIT_REACHED")
    with pytest.raises(ValueError, match="reducing or halted"):
        BreakerPolicy(drawdown_state=TradingState.ACTIVE)
