"""How often the executor reads the broker's account, in wall time, on each kind of clock and broker."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock, WallClock, anchored_clock
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.broker import Broker
from trader.services.trade_executor.app import account_wall_gap_seconds

START = datetime(2024, 6, 12, 19, 0, tzinfo=UTC)


def test_a_live_broker_on_an_accelerated_clock_is_read_on_the_clock_not_once_a_wall_minute() -> None:
    # The risk manager measures the reading's age on the clock (RISK_ACCOUNT_MAX_AGE_SECONDS): a
    # 60 s wall gap at 30x would be half an hour of the clock, and every order ACCOUNT_STALE.
    live_broker = cast(Broker, object())
    assert account_wall_gap_seconds(anchored_clock(START, 0.0, 30.0), live_broker, 60.0) == 0.0
    assert account_wall_gap_seconds(WallClock(), live_broker, 60.0) == 0.0


def test_the_simulated_broker_on_the_replay_clock_is_read_at_most_once_a_wall_interval() -> None:
    clock = SimulatedClock(START, speed=150_000)
    simulated = SimulatedBroker(clock, XNYSCalendar(), starting_cash=Decimal(100_000))
    assert account_wall_gap_seconds(clock, simulated, 60.0) == 60.0
    assert account_wall_gap_seconds(WallClock(), simulated, 60.0) == 0.0
