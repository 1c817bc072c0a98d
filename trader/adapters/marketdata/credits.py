"""A per-minute credit allowance (Twelve Data's plans count API credits per clock minute).

The limiter spends credits before a request is sent and, when the minute's allowance is gone,
sleeps on the clock until the next minute instead of sending a request bound to fail. When the
provider still answers "credits exhausted" (another process shares the key), `note_exhausted`
blocks the rest of that minute.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from trader.core.ports import Clock

WINDOW = timedelta(minutes=1)


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class CreditUsage:
    used: int
    limit: int
    window_started_at: datetime
    window_resets_at: datetime
    total_spent: int
    waits: int
    exhausted_answers: int

    def as_dict(self) -> dict[str, object]:
        return {
            "used": self.used,
            "limit": self.limit,
            "remaining": max(self.limit - self.used, 0),
            "window_started_at": self.window_started_at.isoformat(),
            "window_resets_at": self.window_resets_at.isoformat(),
            "total_spent": self.total_spent,
            "waits": self.waits,
            "exhausted_answers": self.exhausted_answers,
        }


class CreditLimiter:
    """Credits per clock minute; `acquire` waits (sleeping, never spinning) until the cost fits."""

    def __init__(self, clock: Clock, credits_per_minute: int) -> None:
        if credits_per_minute < 1:
            raise ValueError(f"credits per minute must be at least 1, got {credits_per_minute}")
        self._clock = clock
        self._limit = credits_per_minute
        self._window = minute_of(clock.now())
        self._used = 0
        self._blocked_until: datetime | None = None
        self._total = 0
        self._waits = 0
        self._exhausted = 0
        self._lock = asyncio.Lock()

    @property
    def limit(self) -> int:
        return self._limit

    def _roll(self, now: datetime) -> None:
        current = minute_of(now)
        if current != self._window:
            self._window = current
            self._used = 0

    def available_at(self, cost: int = 1) -> datetime:
        """When `cost` credits can be spent: now, or the start of a later minute."""
        now = self._clock.now()
        self._roll(now)
        if self._blocked_until is not None and now < self._blocked_until:
            return self._blocked_until
        if self._used + cost <= self._limit:
            return now
        return self._window + WINDOW

    async def acquire(self, cost: int = 1) -> None:
        if cost > self._limit:
            raise ValueError(f"a request costing {cost} credits can never fit a limit of {self._limit}")
        async with self._lock:
            while True:
                ready_at = self.available_at(cost)
                now = self._clock.now()
                if ready_at <= now:
                    self._used += cost
                    self._total += cost
                    return
                self._waits += 1
                await self._clock.sleep_until(ready_at)

    def note_exhausted(self, used: int | None = None) -> datetime:
        """The provider said the minute's credits are gone: block until the next minute; return when."""
        now = self._clock.now()
        self._roll(now)
        self._used = max(self._used, self._limit if used is None else min(used, self._limit))
        self._exhausted += 1
        self._blocked_until = minute_of(now) + WINDOW
        return self._blocked_until

    def usage(self) -> CreditUsage:
        now = self._clock.now()
        self._roll(now)
        return CreditUsage(
            used=self._used,
            limit=self._limit,
            window_started_at=self._window,
            window_resets_at=self._window + WINDOW,
            total_spent=self._total,
            waits=self._waits,
            exhausted_answers=self._exhausted,
        )
