"""Replaying bars on a simulated clock: nothing is released before its bar has closed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.replay import (
    BarReplay,
    SyntheticMarket,
    bar_close_at,
    generate_minute_bars,
    load_bokeh_bars,
)
from trader.core.aggregation import aggregate_bars
from trader.core.market import Bar, Timeframe


@pytest.fixture(scope="module")
def calendar() -> XNYSCalendar:
    return XNYSCalendar()


def test_daily_bars_close_at_the_session_close(calendar: XNYSCalendar) -> None:
    bars = load_bokeh_bars(calendar, symbols=["IBM"]).accepted
    day_after_thanksgiving = next(bar for bar in bars if bar.timestamp.date() == date(2012, 11, 23))
    assert bar_close_at(day_after_thanksgiving, calendar) == datetime(2012, 11, 23, 18, 0, tzinfo=UTC)
    replay = BarReplay(bars, calendar)
    assert replay.released_until(datetime(2012, 11, 23, 17, 59, tzinfo=UTC))[-1].timestamp.date() == date(
        2012, 11, 21
    )
    assert replay.released_until(datetime(2012, 11, 23, 18, 0, tzinfo=UTC)) == [day_after_thanksgiving]


async def test_stream_releases_each_bar_after_its_close(calendar: XNYSCalendar) -> None:
    session = calendar.sessions_between(date(2024, 11, 29), date(2024, 11, 29))
    minutes = generate_minute_bars(["AAPL", "MSFT"], session, SyntheticMarket(seed=1))
    five_minute: list[Bar] = []
    for symbol in ("AAPL", "MSFT"):
        five_minute += aggregate_bars(
            [bar for bar in minutes if bar.symbol == symbol], Timeframe.MINUTE5, calendar
        )
    replay = BarReplay(five_minute, calendar)
    # The early-close session (3.5 h) plays back in about 0.2 s of wall time.
    clock = SimulatedClock(session[0].open_at, speed=60_000.0)
    received: list[tuple[datetime, Bar]] = []
    async for group in replay.stream(clock):
        now = clock.now()
        received.extend((now, bar) for bar in group)
    assert len(received) == len(five_minute) == 2 * 42
    for seen_at, bar in received:
        assert seen_at >= bar.timestamp + timedelta(minutes=5)
    assert received[-1][0] >= datetime(2024, 11, 29, 18, 0, tzinfo=UTC)
    assert replay.remaining == 0
