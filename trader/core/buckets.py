"""Walking the bars of a timeframe along the calendar: which bucket closed last, which comes next,
where a window of N buckets starts.

Buckets are the ones `aggregate_bars` builds: anchored at each session's open, the last one cut at
the close (early closes included); a daily bucket is one whole session. A bucket is named by its start.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from trader.core.market import Timeframe
from trader.core.sessions import MarketCalendar, Session, bucket_end, bucket_start

_INSTANT = timedelta(microseconds=1)


def _session_of(calendar: MarketCalendar, start: datetime) -> Session:
    session = calendar.session_for(start)
    if session is None:
        raise ValueError(f"{start.isoformat()} is outside every session: not the start of a bucket")
    return session


def _last_start(session: Session, timeframe: Timeframe) -> datetime:
    return bucket_start(session, session.close_at - _INSTANT, timeframe)


def bucket_bounds(
    calendar: MarketCalendar, timeframe: Timeframe, start: datetime
) -> tuple[datetime, datetime]:
    """(start, end) of the bucket starting at `start`."""
    return start, bucket_end(_session_of(calendar, start), start, timeframe)


def bucket_containing(calendar: MarketCalendar, timeframe: Timeframe, at: datetime) -> datetime:
    """The start of the bucket the instant `at` (within a session) falls in."""
    return bucket_start(_session_of(calendar, at), at, timeframe)


def next_bucket_start(calendar: MarketCalendar, timeframe: Timeframe, start: datetime) -> datetime:
    """The start of the bucket after the one starting at `start` (the next session's first after the last)."""
    session = _session_of(calendar, start)
    end = bucket_end(session, start, timeframe)
    return end if end < session.close_at else calendar.next_open(start)


def last_closed_bucket(calendar: MarketCalendar, timeframe: Timeframe, at: datetime) -> datetime:
    """The start of the newest bucket that has ended by `at` (its end <= at)."""
    session = calendar.session_for(at)
    if session is not None:
        if timeframe.is_intraday:
            current = bucket_start(session, at, timeframe)
            if current > session.open_at:
                return current - timeframe.duration
        return _last_start(calendar.previous_session(session.session_date), timeframe)
    today = calendar.session_for(at.date())
    closed = today if today is not None and today.close_at <= at else calendar.previous_session(at.date())
    return _last_start(closed, timeframe)


def buckets_back(calendar: MarketCalendar, timeframe: Timeframe, start: datetime, count: int) -> datetime:
    """The start of the bucket `count - 1` buckets before the one starting at `start`: a window of
    `count` buckets ending with that one starts there."""
    if count < 1:
        raise ValueError(f"a window holds at least one bucket, got {count}")
    session = _session_of(calendar, start)
    remaining = count - 1
    if timeframe.is_intraday:
        before_today = (start - session.open_at) // timeframe.duration
        while remaining > before_today:
            remaining -= before_today + 1
            session = calendar.previous_session(session.session_date)
            start = _last_start(session, timeframe)
            before_today = math.ceil(session.duration / timeframe.duration) - 1
        return start - remaining * timeframe.duration
    for _ in range(remaining):
        session = calendar.previous_session(session.session_date)
    return session.open_at
