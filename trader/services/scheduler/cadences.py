"""Cadences written as text in settings (SCHEDULER_CADENCES), read into the cadence values of core.

close+20m, open-5m, close           once per session, at its open or close plus an offset
every 15m, every 900s               from the open while the market is open (the close included)
every 1h round the clock            every hour, day and night
daily 03:00, sat 06:00, mon,thu 06:30   New York wall-clock time on those days
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta

from trader.core.schedule import AtSessionEvent, Cadence, DailyAt, EveryInterval

_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}
_AMOUNT = r"(\d+)\s*(s|sec|m|min|h|hour)"
_SESSION = re.compile(rf"^(open|close)(?:\s*([+-])\s*{_AMOUNT})?$")
_EVERY = re.compile(rf"^every\s+{_AMOUNT}(\s+round the clock)?$")
_CLOCK = re.compile(r"^(daily|[a-z]{3}(?:,[a-z]{3})*)\s+(\d{1,2}):(\d{2})$")
GRAMMAR = "open|close[+-N(s|m|h)], every N(s|m|h) [round the clock], daily HH:MM, mon,thu HH:MM"


class CadenceSyntaxError(ValueError):
    pass


def parse_cadence(text: str) -> Cadence:
    spoken = " ".join(text.strip().lower().split())
    if match := _SESSION.match(spoken):
        anchor, sign, amount, unit = match.groups()
        offset = timedelta(seconds=int(amount) * _UNIT_SECONDS[unit]) if amount else timedelta(0)
        return AtSessionEvent("open" if anchor == "open" else "close", -offset if sign == "-" else offset)
    if match := _EVERY.match(spoken):
        amount, unit, round_the_clock = match.groups()
        seconds = int(amount) * _UNIT_SECONDS[unit]
        if seconds <= 0:
            raise CadenceSyntaxError(f"cadence {text!r}: the interval must be positive")
        return EveryInterval(seconds, during_session_only=round_the_clock is None)
    if match := _CLOCK.match(spoken):
        days, hour, minute = match.groups()
        if int(hour) > 23 or int(minute) > 59:
            raise CadenceSyntaxError(f"cadence {text!r}: {hour}:{minute} is not a time of day")
        at = time(int(hour), int(minute))
        if days == "daily":
            return DailyAt(at)
        unknown = [day for day in days.split(",") if day not in _DAYS]
        if unknown:
            raise CadenceSyntaxError(f"cadence {text!r}: unknown day {', '.join(unknown)} (mon..sun)")
        return DailyAt(at, frozenset(_DAYS[day] for day in days.split(",")))
    raise CadenceSyntaxError(f"cadence {text!r} not understood; write one of: {GRAMMAR}")


def chosen_cadences(defaults: Mapping[str, Cadence], overrides: Mapping[str, str]) -> dict[str, Cadence]:
    """Each job's cadence: its default, or the configured text. Unknown job names are refused."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise CadenceSyntaxError(
            f"SCHEDULER_CADENCES names unknown job(s) {', '.join(unknown)}; "
            f"jobs: {', '.join(sorted(defaults))}"
        )
    return {
        name: parse_cadence(overrides[name]) if name in overrides else default
        for name, default in defaults.items()
    }
