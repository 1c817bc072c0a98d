"""A replay whose clock has run ahead (a slow start) still hands out one close time per group."""

from __future__ import annotations

from datetime import date

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.replay import BarReplay, bar_close_at, load_bokeh_bars


async def test_sessions_the_clock_has_passed_come_one_session_at_a_time() -> None:
    calendar = XNYSCalendar()
    bars = [
        bar
        for bar in load_bokeh_bars(calendar, symbols=["AAPL", "IBM"]).accepted
        if date(2010, 1, 4) <= bar.timestamp.date() <= date(2010, 1, 8)
    ]
    replay = BarReplay(bars, calendar)
    # Stopped well after the last close: everything is due at once.
    last_close = max(bar_close_at(bar, calendar) for bar in bars)
    clock = SimulatedClock(last_close, speed=0)
    groups = [list(group) async for group in replay.stream(clock)]
    assert len(groups) == 5
    for group in groups:
        assert sorted(bar.symbol for bar in group) == ["AAPL", "IBM"]
        assert len({bar.timestamp for bar in group}) == 1
    assert [group[0].timestamp for group in groups] == sorted(group[0].timestamp for group in groups)
