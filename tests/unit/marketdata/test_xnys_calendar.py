"""The NYSE calendar adapter against known sessions: holidays, early closes, DST, weekends."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest

from trader.adapters.calendar import XNYSCalendar
from trader.core.sessions import CalendarRangeError, MarketCalendar


@pytest.fixture(scope="module")
def calendar() -> XNYSCalendar:
    return XNYSCalendar()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_satisfies_the_port(calendar: XNYSCalendar) -> None:
    assert isinstance(calendar, MarketCalendar)


def test_independence_day_is_a_holiday(calendar: XNYSCalendar) -> None:
    assert calendar.session_for(date(2024, 7, 4)) is None
    assert not calendar.is_open(utc(2024, 7, 4, 15, 0))
    assert calendar.next_open(utc(2024, 7, 3, 21, 0)) == utc(2024, 7, 5, 13, 30)


def test_national_day_of_mourning_2025_is_closed(calendar: XNYSCalendar) -> None:
    assert calendar.session_for(date(2025, 1, 9)) is None
    assert calendar.previous_session(date(2025, 1, 10)).session_date == date(2025, 1, 8)


def test_day_after_thanksgiving_closes_at_1300_eastern(calendar: XNYSCalendar) -> None:
    session = calendar.session_for(date(2024, 11, 29))
    assert session is not None
    assert session.is_early_close
    assert session.open_at == utc(2024, 11, 29, 14, 30)
    assert session.close_at == utc(2024, 11, 29, 18, 0)
    assert calendar.is_open(utc(2024, 11, 29, 17, 59))
    assert not calendar.is_open(utc(2024, 11, 29, 18, 0))
    assert calendar.next_close(utc(2024, 11, 29, 15, 0)) == utc(2024, 11, 29, 18, 0)
    assert calendar.session_for(date(2024, 11, 28)) is None  # Thanksgiving itself


def test_a_normal_day_is_not_an_early_close(calendar: XNYSCalendar) -> None:
    session = calendar.session_for(date(2024, 11, 27))
    assert session is not None
    assert not session.is_early_close
    assert session.duration == timedelta(hours=6, minutes=30)


def test_daylight_saving_shift_moves_the_utc_open(calendar: XNYSCalendar) -> None:
    # US clocks moved forward on Sunday 2024-03-10: 09:30 ET is 14:30 UTC before, 13:30 UTC after.
    friday = calendar.session_for(date(2024, 3, 8))
    monday = calendar.session_for(date(2024, 3, 11))
    assert friday is not None and monday is not None
    assert friday.open_at == utc(2024, 3, 8, 14, 30) and friday.close_at == utc(2024, 3, 8, 21, 0)
    assert monday.open_at == utc(2024, 3, 11, 13, 30) and monday.close_at == utc(2024, 3, 11, 20, 0)
    week = calendar.sessions_between(date(2024, 3, 4), date(2024, 3, 15))
    assert [session.session_date.day for session in week] == [4, 5, 6, 7, 8, 11, 12, 13, 14, 15]


def test_weekends_are_closed(calendar: XNYSCalendar) -> None:
    assert calendar.session_for(date(2024, 3, 9)) is None
    assert calendar.session_for(date(2024, 3, 10)) is None
    assert calendar.session_for(utc(2024, 3, 9, 15, 0)) is None
    assert calendar.next_open(utc(2024, 3, 8, 21, 0)) == utc(2024, 3, 11, 13, 30)
    assert calendar.previous_session(date(2024, 3, 11)).session_date == date(2024, 3, 8)
    assert calendar.next_session(date(2024, 3, 8)).session_date == date(2024, 3, 11)


def test_instant_lookup_respects_open_and_close_bounds(calendar: XNYSCalendar) -> None:
    assert calendar.session_for(utc(2024, 3, 11, 13, 29)) is None
    opened = calendar.session_for(utc(2024, 3, 11, 13, 30))
    assert opened is not None and opened.session_date == date(2024, 3, 11)
    assert calendar.session_for(utc(2024, 3, 11, 20, 0)) is None
    assert calendar.next_open(utc(2024, 3, 11, 13, 30)) == utc(2024, 3, 12, 13, 30)
    assert calendar.next_close(utc(2024, 3, 11, 20, 0)) == utc(2024, 3, 12, 20, 0)


def test_covers_the_sample_data_back_to_2000(calendar: XNYSCalendar) -> None:
    split_day = calendar.session_for(date(2000, 6, 21))
    assert split_day is not None and split_day.open_at == utc(2000, 6, 21, 13, 30)
    assert calendar.session_for(date(2001, 9, 11)) is None  # markets shut after the attacks


def test_queries_outside_the_range_raise_instead_of_guessing() -> None:
    narrow = XNYSCalendar(start=date(2024, 1, 2), end=date(2024, 12, 31))
    with pytest.raises(CalendarRangeError):
        narrow.session_for(date(2023, 12, 29))
    with pytest.raises(CalendarRangeError):
        narrow.next_open(utc(2024, 12, 31, 22, 0))


def test_lookups_are_cheap_enough_to_call_per_bar(calendar: XNYSCalendar) -> None:
    start = utc(2024, 1, 2, 14, 30)
    moments = [start + timedelta(minutes=minute) for minute in range(20_000)]
    began = time.perf_counter()
    for moment in moments:
        calendar.session_for(moment)
    per_call = (time.perf_counter() - began) / len(moments)
    assert per_call < 50e-6
