"""Wall and simulated clocks: speed, manual advance, wake-ups, and idling without spinning."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from trader.adapters.clock import SimulatedClock, WallClock, anchored_clock
from trader.core.ports import Clock

START = datetime(2024, 3, 11, 13, 30, tzinfo=UTC)


def test_both_satisfy_the_port() -> None:
    clocks: list[Clock] = [WallClock(), SimulatedClock(START)]
    for clock in clocks:
        assert clock.now().utcoffset() == timedelta(0)


async def test_wall_clock_sleeps_until_the_moment() -> None:
    clock = WallClock()
    target = clock.now() + timedelta(milliseconds=50)
    await clock.sleep_until(target)
    assert clock.now() >= target


async def test_accelerated_clock_runs_at_its_speed() -> None:
    clock = SimulatedClock(START, speed=600.0)  # ten simulated minutes per wall second
    began = time.monotonic()
    await clock.sleep_until(START + timedelta(minutes=1))
    wall = time.monotonic() - began
    assert clock.now() >= START + timedelta(minutes=1)
    assert 0.09 <= wall < 0.5


async def test_stopped_clock_waits_for_advance_to() -> None:
    clock = SimulatedClock(START, speed=0)
    target = START + timedelta(hours=1)
    sleeper = asyncio.create_task(clock.sleep_until(target))
    await asyncio.sleep(0.05)
    assert not sleeper.done()
    assert clock.now() == START
    clock.advance_to(START + timedelta(minutes=30))
    await asyncio.sleep(0.02)
    assert not sleeper.done()
    clock.advance_to(target)
    await asyncio.wait_for(sleeper, timeout=1)
    assert clock.now() == target


async def test_advance_from_another_thread_wakes_the_sleeper() -> None:
    clock = SimulatedClock(START, speed=0)
    target = START + timedelta(days=1)
    timer = threading.Timer(0.05, clock.advance_to, args=(target,))
    timer.start()
    try:
        await asyncio.wait_for(clock.sleep_until(target), timeout=2)
    finally:
        timer.join()
    assert clock.now() == target


async def test_speeding_up_shortens_a_pending_sleep() -> None:
    clock = SimulatedClock(START, speed=1.0)
    sleeper = asyncio.create_task(clock.sleep_until(START + timedelta(hours=1)))
    await asyncio.sleep(0.02)
    clock.set_speed(36_000.0)  # the remaining hour now takes 0.1 s
    await asyncio.wait_for(sleeper, timeout=1)


def test_time_never_runs_backwards() -> None:
    clock = SimulatedClock(START, speed=0)
    clock.advance_by(timedelta(minutes=5))
    with pytest.raises(ValueError, match="cannot move the clock back"):
        clock.advance_to(START)
    with pytest.raises(ValueError, match="aware UTC"):
        SimulatedClock(datetime(2024, 1, 2, 9, 30))
    with pytest.raises(ValueError, match="speed"):
        SimulatedClock(START, speed=-1)


async def test_sleeping_does_not_spin() -> None:
    clock = SimulatedClock(START, speed=0)
    sleepers = [
        asyncio.create_task(clock.sleep_until(START + timedelta(minutes=index))) for index in range(1, 50)
    ]
    slow = SimulatedClock(START, speed=1.0)
    sleepers.append(asyncio.create_task(slow.sleep_until(START + timedelta(hours=1))))
    cpu_before = time.process_time()
    wall_before = time.monotonic()
    await asyncio.sleep(0.5)
    cpu_share = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
    assert cpu_share < 0.05
    clock.advance_to(START + timedelta(hours=1))
    await asyncio.wait_for(asyncio.gather(*sleepers[:-1]), timeout=1)
    sleepers[-1].cancel()


def test_anchored_clocks_built_apart_from_the_same_values_tell_the_same_time() -> None:
    # Two processes of one system read the same three settings at different moments.
    anchor = time.time() - 10.0  # the session was anchored ten wall seconds ago, at 60x
    first = anchored_clock(START, anchor, 60.0)
    time.sleep(0.05)
    second = anchored_clock(START, anchor, 60.0)
    gap = abs((second.now() - first.now()).total_seconds())
    assert gap < 0.5  # 60x of the wall clocks' few milliseconds of disagreement
    assert timedelta(minutes=9.9) < first.now() - START < timedelta(minutes=10.5)
    assert second.speed == 60.0
