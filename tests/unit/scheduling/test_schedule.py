"""Cadences against the real NYSE calendar: holidays, early closes and a DST week."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from trader.adapters.calendar import XNYSCalendar
from trader.core.schedule import (
    AtSessionEvent,
    DailyAt,
    EveryInterval,
    MissedRunPolicy,
    decide_missed_run,
    next_due_after,
    retry_delay,
)


@pytest.fixture(scope="module")
def calendar() -> XNYSCalendar:
    return XNYSCalendar(start=date(2023, 1, 3), end=date(2025, 12, 31))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_interval_jobs_run_from_the_open_to_the_close(calendar: XNYSCalendar) -> None:
    every_minute = EveryInterval(60)
    # Before the open on a normal winter day (09:30 ET = 14:30 UTC).
    assert next_due_after(every_minute, utc(2024, 3, 8, 12, 0), calendar) == utc(2024, 3, 8, 14, 30)
    assert next_due_after(every_minute, utc(2024, 3, 8, 14, 30), calendar) == utc(2024, 3, 8, 14, 31)
    assert next_due_after(every_minute, utc(2024, 3, 8, 14, 30, 20), calendar) == utc(2024, 3, 8, 14, 31)
    # The last due time of the day is the close itself; then Monday's open (weekend skipped).
    assert next_due_after(every_minute, utc(2024, 3, 8, 20, 59, 30), calendar) == utc(2024, 3, 8, 21, 0)
    assert next_due_after(every_minute, utc(2024, 3, 8, 21, 0), calendar) == utc(2024, 3, 11, 13, 30)


def test_dst_moves_the_open_in_utc(calendar: XNYSCalendar) -> None:
    open_event = AtSessionEvent("open")
    # Friday 2024-03-08 opens 14:30 UTC (EST); after the switch on Sunday, Monday opens 13:30 UTC (EDT).
    assert next_due_after(open_event, utc(2024, 3, 8, 0, 0), calendar) == utc(2024, 3, 8, 14, 30)
    assert next_due_after(open_event, utc(2024, 3, 8, 15, 0), calendar) == utc(2024, 3, 11, 13, 30)
    daily = DailyAt(time(7, 0))
    assert next_due_after(daily, utc(2024, 3, 9, 13, 0), calendar) == utc(
        2024, 3, 10, 11, 0
    )  # EDT begins 3/10
    assert next_due_after(daily, utc(2024, 3, 8, 13, 0), calendar) == utc(2024, 3, 9, 12, 0)


def test_holidays_are_skipped(calendar: XNYSCalendar) -> None:
    after_close = AtSessionEvent("close", timedelta(minutes=15))
    # 2024-07-03 is an early close (13:00 ET); 07-04 is a holiday; next is 07-05.
    assert next_due_after(after_close, utc(2024, 7, 3, 12, 0), calendar) == utc(2024, 7, 3, 17, 15)
    assert next_due_after(after_close, utc(2024, 7, 3, 17, 15), calendar) == utc(2024, 7, 5, 20, 15)
    assert next_due_after(EveryInterval(300), utc(2024, 7, 4, 15, 0), calendar) == utc(2024, 7, 5, 13, 30)


def test_the_day_after_thanksgiving_closes_early(calendar: XNYSCalendar) -> None:
    at_close = AtSessionEvent("close")
    assert next_due_after(at_close, utc(2024, 11, 29, 14, 0), calendar) == utc(2024, 11, 29, 18, 0)
    assert next_due_after(EveryInterval(60), utc(2024, 11, 29, 17, 59, 30), calendar) == utc(
        2024, 11, 29, 18, 0
    )
    # Thanksgiving itself has no session.
    assert next_due_after(AtSessionEvent("open"), utc(2024, 11, 27, 21, 0), calendar) == utc(
        2024, 11, 29, 14, 30
    )


def test_weekday_and_round_the_clock_cadences(calendar: XNYSCalendar) -> None:
    sundays = DailyAt(time(2, 30), frozenset({6}))
    assert next_due_after(sundays, utc(2024, 2, 28, 0, 0), calendar) == utc(2024, 3, 3, 7, 30)
    # 02:30 does not exist on the spring-forward Sunday: it runs an hour later in wall time,
    # at the same UTC instant as a standard-time 02:30, rather than being skipped.
    assert next_due_after(sundays, utc(2024, 3, 6, 0, 0), calendar) == utc(2024, 3, 10, 7, 30)
    assert next_due_after(sundays, utc(2024, 3, 11, 0, 0), calendar) == utc(2024, 3, 17, 6, 30)
    hourly = EveryInterval(3600, during_session_only=False)
    assert next_due_after(hourly, utc(2024, 3, 9, 3, 20), calendar) == utc(2024, 3, 9, 4, 0)


def test_missed_runs_after_downtime(calendar: XNYSCalendar) -> None:
    eod = AtSessionEvent("close", timedelta(minutes=10))
    last = utc(2024, 3, 6, 21, 10)  # Wednesday's report ran
    now = utc(2024, 3, 8, 12, 0)  # down through Thursday's close
    run_once = decide_missed_run(eod, MissedRunPolicy.RUN_ONCE, last, now, calendar)
    assert run_once.run_now and run_once.missed_due_at == utc(2024, 3, 7, 21, 10)
    skip = decide_missed_run(eod, MissedRunPolicy.SKIP, last, now, calendar)
    assert not skip.run_now and skip.missed_due_at == utc(2024, 3, 7, 21, 10)
    nothing = decide_missed_run(eod, MissedRunPolicy.RUN_ONCE, utc(2024, 3, 7, 21, 10), now, calendar)
    assert not nothing.run_now and nothing.missed_due_at is None
    assert decide_missed_run(eod, MissedRunPolicy.RUN_ONCE, None, now, calendar).missed_due_at is None


def test_backoff_grows_and_caps() -> None:
    assert [retry_delay(n, 5).total_seconds() for n in (1, 2, 3)] == [5, 10, 20]
    assert retry_delay(20, 5, cap_seconds=60).total_seconds() == 60
    with pytest.raises(ValueError):
        retry_delay(0, 5)


def test_naive_times_are_refused(calendar: XNYSCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        next_due_after(EveryInterval(60), datetime(2024, 3, 8, 12, 0), calendar)
