"""When jobs run: cadences that reason in NYSE sessions and New York wall time, never UTC midnights.

Pure: the calendar comes in as a value, and `now` is always an argument.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from trader.core.sessions import MarketCalendar, Session

NEW_YORK = ZoneInfo("America/New_York")
_SEARCH_DAYS = 14  # the longest run of days without a session (holidays + weekends) is far shorter


class MissedRunPolicy(enum.StrEnum):
    """What to do with runs that fell due while the scheduler was down."""

    RUN_ONCE = "run_once"  # catch up with one run, however many were missed
    SKIP = "skip"  # record the miss and wait for the next due time


@dataclass(frozen=True, slots=True)
class EveryInterval:
    """Every `seconds`: from the session open while the market is open, or round the clock."""

    seconds: int
    during_session_only: bool = True

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError("an interval must be positive")

    def describe(self) -> str:
        where = " during the session" if self.during_session_only else ""
        return f"every {self.seconds}s{where}"


@dataclass(frozen=True, slots=True)
class AtSessionEvent:
    """Once per session, at its open or close plus an offset (early closes respected)."""

    anchor: Literal["open", "close"]
    offset: timedelta = timedelta(0)

    def describe(self) -> str:
        minutes = int(self.offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        return f"session {self.anchor} {sign} {abs(minutes)}min"


@dataclass(frozen=True, slots=True)
class DailyAt:
    """Every day (or the given weekdays, Monday=0) at a New York wall-clock time, DST included."""

    at: time
    weekdays: frozenset[int] = frozenset(range(7))

    def describe(self) -> str:
        days = (
            "daily"
            if len(self.weekdays) == 7
            else "on " + ",".join(_DAY_NAMES[d] for d in sorted(self.weekdays))
        )
        return f"{days} at {self.at.strftime('%H:%M')} ET"


Cadence = EveryInterval | AtSessionEvent | DailyAt
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass aware UTC")


def _sessions_from(calendar: MarketCalendar, day: date) -> list[Session]:
    return list(calendar.sessions_between(day, day + timedelta(days=_SEARCH_DAYS)))


def next_due_after(cadence: Cadence, after: datetime, calendar: MarketCalendar) -> datetime:
    """The first due time strictly after `after`."""
    _require_aware(after)
    if isinstance(cadence, DailyAt):
        local = after.astimezone(NEW_YORK)
        for day_offset in range(8):
            day = local.date() + timedelta(days=day_offset)
            if day.weekday() not in cadence.weekdays:
                continue
            due = datetime.combine(day, cadence.at, tzinfo=NEW_YORK).astimezone(after.tzinfo)
            if due > after:
                return due
        raise ValueError(f"{cadence.describe()} never falls due")
    if isinstance(cadence, EveryInterval) and not cadence.during_session_only:
        # Round the clock: multiples of the interval since the Unix epoch.
        step = cadence.seconds
        return datetime.fromtimestamp((int(after.timestamp()) // step + 1) * step, tz=after.tzinfo)
    start_day = after.astimezone(NEW_YORK).date() - timedelta(days=1)
    for session in _sessions_from(calendar, start_day):
        if isinstance(cadence, AtSessionEvent):
            due = (session.open_at if cadence.anchor == "open" else session.close_at) + cadence.offset
            if due > after:
                return due
            continue
        if after >= session.close_at:
            continue
        if after < session.open_at:
            return session.open_at
        interval = timedelta(seconds=cadence.seconds)
        next_tick = session.open_at + interval * ((after - session.open_at) // interval + 1)
        # The bar that ends at the close is still collected: the close is a due time.
        return min(next_tick, session.close_at)
    raise ValueError(f"no session within {_SEARCH_DAYS} days after {after.isoformat()}")


def last_due_at_or_before(
    cadence: Cadence, moment: datetime, calendar: MarketCalendar, since: datetime
) -> datetime | None:
    """The latest due time in (since, moment], or None: what a restarted scheduler may have missed."""
    _require_aware(moment)
    latest = None
    cursor = since
    # Walk forward from `since`; cadences are at most a few thousand steps apart in a downtime.
    for _ in range(100_000):
        due = next_due_after(cadence, cursor, calendar)
        if due > moment:
            return latest
        latest = due
        cursor = due
    return latest


@dataclass(frozen=True, slots=True)
class MissedRunDecision:
    run_now: bool
    missed_due_at: datetime | None


def decide_missed_run(
    cadence: Cadence,
    policy: MissedRunPolicy,
    last_scheduled_for: datetime | None,
    now: datetime,
    calendar: MarketCalendar,
) -> MissedRunDecision:
    """After downtime: was a run due since the last one, and should it run now?"""
    if last_scheduled_for is None:
        return MissedRunDecision(False, None)
    missed = last_due_at_or_before(cadence, now, calendar, since=last_scheduled_for)
    if missed is None:
        return MissedRunDecision(False, None)
    return MissedRunDecision(policy is MissedRunPolicy.RUN_ONCE, missed)


def retry_delay(attempt: int, base_seconds: float, cap_seconds: float = 900.0) -> timedelta:
    """Exponential backoff after the given failed attempt (1-based), capped."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** (attempt - 1)))
