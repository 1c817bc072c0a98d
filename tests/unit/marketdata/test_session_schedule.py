"""The pure session table: lookups and bucket helpers, on hand-built sessions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from trader.core.market import Timeframe
from trader.core.sessions import (
    CalendarRangeError,
    MarketCalendar,
    Session,
    SessionSchedule,
    bar_starts,
    bucket_end,
    bucket_start,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


MONDAY = Session(date(2024, 11, 25), utc(2024, 11, 25, 14, 30), utc(2024, 11, 25, 21, 0))
FRIDAY_EARLY = Session(
    date(2024, 11, 29), utc(2024, 11, 29, 14, 30), utc(2024, 11, 29, 18, 0), is_early_close=True
)
SCHEDULE = SessionSchedule([FRIDAY_EARLY, MONDAY])


def test_schedule_is_a_market_calendar() -> None:
    assert isinstance(SCHEDULE, MarketCalendar)
    assert SCHEDULE.sessions == (MONDAY, FRIDAY_EARLY)


def test_lookups() -> None:
    assert SCHEDULE.session_for(date(2024, 11, 27)) is None
    assert SCHEDULE.session_for(utc(2024, 11, 29, 17, 59, 59)) == FRIDAY_EARLY
    assert SCHEDULE.session_for(utc(2024, 11, 29, 18, 0)) is None
    assert SCHEDULE.next_open(utc(2024, 11, 25, 14, 30)) == FRIDAY_EARLY.open_at
    assert SCHEDULE.next_close(utc(2024, 11, 25, 14, 30)) == MONDAY.close_at
    assert SCHEDULE.previous_session(date(2024, 11, 29)) == MONDAY
    assert SCHEDULE.next_session(date(2024, 11, 25)) == FRIDAY_EARLY
    assert list(SCHEDULE.sessions_between(date(2024, 11, 26), date(2024, 11, 29))) == [FRIDAY_EARLY]


def test_out_of_range_raises() -> None:
    with pytest.raises(CalendarRangeError):
        SCHEDULE.session_for(date(2024, 12, 2))
    with pytest.raises(CalendarRangeError):
        SCHEDULE.previous_session(date(2024, 11, 25))
    with pytest.raises(CalendarRangeError):
        SCHEDULE.next_open(utc(2024, 11, 29, 14, 30))


def test_naive_times_and_overlaps_are_refused() -> None:
    with pytest.raises(ValueError, match="aware UTC"):
        SCHEDULE.is_open(datetime(2024, 11, 25, 15, 0))
    with pytest.raises(ValueError, match="overlap"):
        SessionSchedule(
            [MONDAY, Session(date(2024, 11, 26), utc(2024, 11, 25, 20, 0), utc(2024, 11, 26, 21, 0))]
        )
    with pytest.raises(ValueError, match="before it opens"):
        Session(date(2024, 11, 25), utc(2024, 11, 25, 21, 0), utc(2024, 11, 25, 14, 30))


def test_hourly_buckets_anchor_at_the_open_and_truncate_at_an_early_close() -> None:
    hours = list(bar_starts(FRIDAY_EARLY, Timeframe.HOUR1))
    assert hours == [
        utc(2024, 11, 29, 14, 30),
        utc(2024, 11, 29, 15, 30),
        utc(2024, 11, 29, 16, 30),
        utc(2024, 11, 29, 17, 30),
    ]
    assert bucket_end(FRIDAY_EARLY, hours[-1], Timeframe.HOUR1) == utc(2024, 11, 29, 18, 0)
    assert bucket_start(FRIDAY_EARLY, utc(2024, 11, 29, 17, 59), Timeframe.HOUR1) == hours[-1]
    assert len(list(bar_starts(MONDAY, Timeframe.MINUTE1))) == 390
    assert len(list(bar_starts(MONDAY, Timeframe.MINUTE30))) == 13
    assert list(bar_starts(MONDAY, Timeframe.DAY1)) == [MONDAY.open_at]
    assert bucket_end(MONDAY, MONDAY.open_at, Timeframe.DAY1) == MONDAY.close_at
    assert bucket_start(
        MONDAY, MONDAY.open_at + timedelta(minutes=7), Timeframe.MINUTE5
    ) == MONDAY.open_at + timedelta(minutes=5)
