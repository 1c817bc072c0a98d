"""The NYSE calendar from exchange_calendars, flattened once into a pure `SessionSchedule`.

exchange_calendars knows the holidays, the early closes (13:00 ET) and the daylight-saving
shifts; asking it per bar is slow (pandas on every call), so the schedule is read once at
construction and every later question is a binary search over plain datetimes.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime

import exchange_calendars

from trader.core.sessions import Session, SessionSchedule

EXCHANGE_CODE = "XNYS"
# The shipped sample data starts in 2000; exchange_calendars defaults to only ~20 years back.
DEFAULT_START = date(1990, 1, 2)


def _to_utc(moment: object) -> datetime:
    python_moment: datetime = moment.to_pydatetime()  # type: ignore[attr-defined]
    return python_moment.astimezone(UTC)


@functools.lru_cache(maxsize=8)
def load_xnys_sessions(start: date = DEFAULT_START, end: date | None = None) -> tuple[Session, ...]:
    """Read the XNYS sessions between `start` and `end` (default: as far ahead as the library knows).

    Cached: sessions are immutable, and each service builds its own calendar.
    """
    with warnings.catch_warnings():
        # exchange_calendars 4.x still reads Series.values, which pandas 3.1 deprecates; the
        # warning is theirs to fix and says nothing about our data.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        calendar = exchange_calendars.get_calendar(
            EXCHANGE_CODE, start=start.isoformat(), end=end.isoformat() if end else None
        )
    schedule = calendar.schedule
    early_close_dates = {moment.date() for moment in calendar.early_closes}
    sessions = []
    for label, open_at, close_at in zip(
        schedule.index, schedule["open"].tolist(), schedule["close"].tolist(), strict=True
    ):
        session_date = label.date()
        sessions.append(
            Session(
                session_date=session_date,
                open_at=_to_utc(open_at),
                close_at=_to_utc(close_at),
                is_early_close=session_date in early_close_dates,
            )
        )
    return tuple(sessions)


class XNYSCalendar:
    """`MarketCalendar` for the New York Stock Exchange."""

    def __init__(self, start: date = DEFAULT_START, end: date | None = None) -> None:
        self._schedule = SessionSchedule(load_xnys_sessions(start, end))

    @property
    def schedule(self) -> SessionSchedule:
        """The sessions as a pure value, for code in trader.core that takes a calendar."""
        return self._schedule

    @property
    def first_date(self) -> date:
        return self._schedule.first_date

    @property
    def last_date(self) -> date:
        return self._schedule.last_date

    def is_open(self, at: datetime) -> bool:
        return self._schedule.is_open(at)

    def session_for(self, at: datetime | date) -> Session | None:
        return self._schedule.session_for(at)

    def next_open(self, after: datetime) -> datetime:
        return self._schedule.next_open(after)

    def next_close(self, after: datetime) -> datetime:
        return self._schedule.next_close(after)

    def sessions_between(self, start: date, end: date) -> Sequence[Session]:
        return self._schedule.sessions_between(start, end)

    def previous_session(self, before: date) -> Session:
        return self._schedule.previous_session(before)

    def next_session(self, after: date) -> Session:
        return self._schedule.next_session(after)
