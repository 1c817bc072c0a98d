"""Trading sessions and the calendar port.

A `Session` is one trading day with its open and close as aware-UTC instants. `SessionSchedule`
answers every calendar question from a sorted table of sessions using binary search, so the
domain never needs a time-zone database or a calendar library: the adapter builds the table once
(from exchange_calendars) and hands it over as a value.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

from trader.core.market import Timeframe, require_aware_utc


class CalendarRangeError(ValueError):
    """A question about a date the calendar does not cover (answering would be a guess)."""


@dataclass(frozen=True, slots=True)
class Session:
    """One trading session: `open_at`/`close_at` aware UTC, the market open in [open_at, close_at)."""

    session_date: date
    open_at: datetime
    close_at: datetime
    is_early_close: bool = False

    def __post_init__(self) -> None:
        require_aware_utc(self.open_at, "Session.open_at")
        require_aware_utc(self.close_at, "Session.close_at")
        if self.close_at <= self.open_at:
            raise ValueError(f"session {self.session_date} closes at {self.close_at} before it opens")

    @property
    def duration(self) -> timedelta:
        return self.close_at - self.open_at

    def contains(self, at: datetime) -> bool:
        return self.open_at <= at < self.close_at


@runtime_checkable
class MarketCalendar(Protocol):
    """The exchange calendar: sessions with holidays, early closes and daylight-saving changes."""

    def is_open(self, at: datetime) -> bool: ...

    def session_for(self, at: datetime | date) -> Session | None:
        """For a date: that day's session, None on a holiday or weekend.

        For a datetime: the session open at that instant, None while the market is closed.
        """
        ...

    def next_open(self, after: datetime) -> datetime:
        """The first session open strictly after `after`."""
        ...

    def next_close(self, after: datetime) -> datetime:
        """The first session close strictly after `after` (today's close while the market is open)."""
        ...

    def sessions_between(self, start: date, end: date) -> Sequence[Session]:
        """Sessions with start <= session_date <= end, in order."""
        ...

    def previous_session(self, before: date) -> Session:
        """The last session strictly before `before`."""
        ...


class SessionSchedule:
    """A `MarketCalendar` over an explicit table of sessions (pure; every query is a bisect)."""

    __slots__ = ("_by_date", "_closes", "_dates", "_opens", "_sessions")

    def __init__(self, sessions: Iterable[Session]) -> None:
        ordered = tuple(sorted(sessions, key=lambda session: session.open_at))
        if not ordered:
            raise ValueError("a session schedule needs at least one session")
        for earlier, later in itertools.pairwise(ordered):
            if later.open_at < earlier.close_at or later.session_date <= earlier.session_date:
                raise ValueError(f"sessions {earlier.session_date} and {later.session_date} overlap")
        self._sessions = ordered
        self._opens = [session.open_at for session in ordered]
        self._closes = [session.close_at for session in ordered]
        self._dates = [session.session_date for session in ordered]
        self._by_date = {session.session_date: session for session in ordered}

    @property
    def sessions(self) -> tuple[Session, ...]:
        return self._sessions

    @property
    def first_date(self) -> date:
        return self._dates[0]

    @property
    def last_date(self) -> date:
        return self._dates[-1]

    def _check_date(self, day: date) -> None:
        if not self.first_date <= day <= self.last_date:
            raise CalendarRangeError(
                f"{day} is outside the calendar's range {self.first_date}..{self.last_date}; "
                "build the calendar with a wider start/end"
            )

    def _check_moment(self, at: datetime) -> None:
        require_aware_utc(at, "calendar query time")
        # A moment counts as covered if its UTC date is within the range (NYSE sessions never cross
        # a UTC midnight), so the night after the last session is still answerable as "closed".
        self._check_date(at.date())

    def is_open(self, at: datetime) -> bool:
        return self.session_for(at) is not None

    def session_for(self, at: datetime | date) -> Session | None:
        if isinstance(at, datetime):
            self._check_moment(at)
            index = bisect.bisect_right(self._opens, at) - 1
            if index >= 0 and at < self._closes[index]:
                return self._sessions[index]
            return None
        self._check_date(at)
        return self._by_date.get(at)

    def next_open(self, after: datetime) -> datetime:
        require_aware_utc(after, "calendar query time")
        index = bisect.bisect_right(self._opens, after)
        if index >= len(self._opens) or after.date() < self.first_date:
            raise CalendarRangeError(
                f"no session opens after {after} within {self.first_date}..{self.last_date}"
            )
        return self._opens[index]

    def next_close(self, after: datetime) -> datetime:
        require_aware_utc(after, "calendar query time")
        index = bisect.bisect_right(self._closes, after)
        if index >= len(self._closes) or after.date() < self.first_date:
            raise CalendarRangeError(
                f"no session closes after {after} within {self.first_date}..{self.last_date}"
            )
        return self._closes[index]

    def sessions_between(self, start: date, end: date) -> Sequence[Session]:
        self._check_date(start)
        self._check_date(end)
        low = bisect.bisect_left(self._dates, start)
        high = bisect.bisect_right(self._dates, end)
        return self._sessions[low:high]

    def previous_session(self, before: date) -> Session:
        index = bisect.bisect_left(self._dates, before) - 1
        if index < 0 or before > self.last_date + timedelta(days=1):
            raise CalendarRangeError(f"no session before {before} within {self.first_date}..{self.last_date}")
        return self._sessions[index]

    def next_session(self, after: date) -> Session:
        """The first session strictly after `after`."""
        index = bisect.bisect_right(self._dates, after)
        if index >= len(self._dates) or after < self.first_date - timedelta(days=1):
            raise CalendarRangeError(f"no session after {after} within {self.first_date}..{self.last_date}")
        return self._sessions[index]


def bar_starts(session: Session, timeframe: Timeframe) -> Iterator[datetime]:
    """The start instants of the bars of `timeframe` in a session.

    Intraday buckets are anchored at the open; on an early close the last one is cut at the
    close. A daily bar is the whole session and starts at the open.
    """
    if not timeframe.is_intraday:
        yield session.open_at
        return
    step = timeframe.duration
    moment = session.open_at
    while moment < session.close_at:
        yield moment
        moment += step


def bucket_start(session: Session, at: datetime, timeframe: Timeframe) -> datetime:
    """The start of the `timeframe` bucket of `session` that contains the instant `at`."""
    if not timeframe.is_intraday:
        return session.open_at
    step = timeframe.duration
    return session.open_at + ((at - session.open_at) // step) * step


def bucket_end(session: Session, start: datetime, timeframe: Timeframe) -> datetime:
    """The end of the bucket starting at `start`: a full step, cut at the close on an early-close day."""
    if not timeframe.is_intraday:
        return session.close_at
    return min(start + timeframe.duration, session.close_at)
