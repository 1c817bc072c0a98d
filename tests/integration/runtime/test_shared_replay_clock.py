"""The replay clock is one clock across processes: a process that starts while a sibling runs joins
the sibling's clock; once every process has stopped, the clock resumes where it stopped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.calendar import XNYSCalendar
from trader.runtime.replay_clock import open_replay_clock, save_position, saved_anchor

START = datetime(2010, 6, 1, tzinfo=UTC)
SPEED = 100_000.0  # one wall second is 100,000 simulated seconds (27.8 hours)


async def test_a_process_started_later_joins_the_running_clock(engine: AsyncEngine) -> None:
    calendar = XNYSCalendar()
    first = await open_replay_clock(engine, calendar, START, SPEED, process="collector-1")
    assert first.now() >= calendar.next_open(START)
    await asyncio.sleep(0.5)  # the second process starts half a wall second (~14 simulated hours) later
    second = await open_replay_clock(engine, calendar, START, SPEED, process="risk-2")
    skew = abs((second.now() - first.now()).total_seconds())
    assert skew < 0.05 * SPEED, f"clocks {skew:.0f} simulated seconds apart"
    anchor = await saved_anchor(engine)
    assert anchor is not None and set(anchor.processes) == {"collector-1", "risk-2"}


async def test_after_every_process_stopped_the_clock_resumes_where_it_stopped(engine: AsyncEngine) -> None:
    calendar = XNYSCalendar()
    only = await open_replay_clock(engine, calendar, START, SPEED, process="up-1")
    await save_position(engine, only, running=False, process="up-1")
    stopped = await saved_anchor(engine)
    assert stopped is not None and stopped.processes == {}
    await asyncio.sleep(0.5)  # down for ~14 simulated hours: they must not pass
    again = await open_replay_clock(engine, calendar, START, SPEED, process="up-2")
    assert 0 <= (again.now() - stopped.at).total_seconds() < 0.05 * SPEED
