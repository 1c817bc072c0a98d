"""Clocks: the wall clock for production, a simulated accelerated clock for replay.

Both satisfy `trader.core.ports.Clock`. The simulated clock never polls: a sleeper computes
how much wall time its moment is away at the current speed and waits that long on a future,
which `advance_to` and `set_speed` resolve early so the sleeper recomputes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

# asyncio timers are coarse; waking a hair late is harmless, waking early just loops once more.
_MAX_WAIT_SECONDS = 3600.0


def _require_aware_utc(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be aware UTC, got {moment!r}")


class WallClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        _require_aware_utc("sleep_until moment", moment)
        while True:
            remaining = (moment - self.now()).total_seconds()
            if remaining <= 0:
                return
            # Re-check after waking: the wall clock may have been stepped (NTP) while we slept.
            await asyncio.sleep(min(remaining, _MAX_WAIT_SECONDS))


class SimulatedClock:
    """Simulated time starting at `start_at`, running at `speed` times wall time (0 = stopped).

    `advance_to` jumps forward (never back); sleepers whose moment has come wake at once. It may be
    called from any thread, and sleepers on several event loops are woken on their own loops.
    """

    def __init__(self, start_at: datetime, *, speed: float = 1.0) -> None:
        _require_aware_utc("SimulatedClock start_at", start_at)
        self._check_speed(speed)
        self._lock = threading.Lock()
        self._anchor_at = start_at.astimezone(UTC)
        self._anchor_monotonic = time.monotonic()
        self._speed = speed
        self._waiters: set[asyncio.Future[None]] = set()

    @staticmethod
    def _check_speed(speed: float) -> None:
        if not speed >= 0 or speed == float("inf"):
            raise ValueError(f"clock speed must be a finite number >= 0, got {speed!r}")

    @property
    def speed(self) -> float:
        return self._speed

    def _now_locked(self) -> datetime:
        elapsed = (time.monotonic() - self._anchor_monotonic) * self._speed
        return self._anchor_at + timedelta(seconds=elapsed)

    def now(self) -> datetime:
        with self._lock:
            return self._now_locked()

    def set_speed(self, speed: float) -> None:
        self._check_speed(speed)
        with self._lock:
            self._anchor_at = self._now_locked()
            self._anchor_monotonic = time.monotonic()
            self._speed = speed
        self._wake_all()

    def advance_to(self, moment: datetime) -> None:
        """Jump simulated time to `moment`; a moment in the simulated past is a bug and raises."""
        _require_aware_utc("advance_to moment", moment)
        with self._lock:
            current = self._now_locked()
            if moment < current:
                raise ValueError(
                    f"cannot move the clock back from {current.isoformat()} to {moment.isoformat()}"
                )
            self._anchor_at = moment
            self._anchor_monotonic = time.monotonic()
        self._wake_all()

    def advance_by(self, delta: timedelta) -> None:
        self.advance_to(self.now() + delta)

    def _wake_all(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for waiter in waiters:
            try:
                waiter.get_loop().call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:
                # That sleeper's event loop is closed; nobody is left to wake.
                continue

    async def sleep_until(self, moment: datetime) -> None:
        _require_aware_utc("sleep_until moment", moment)
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                remaining = (moment - self._now_locked()).total_seconds()
                if remaining <= 0:
                    return
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.add(waiter)
                wall_seconds = remaining / self._speed if self._speed > 0 else None
            try:
                timeout = None if wall_seconds is None else min(wall_seconds, _MAX_WAIT_SECONDS)
                await asyncio.wait({waiter}, timeout=timeout)
            finally:
                with self._lock:
                    self._waiters.discard(waiter)
                if not waiter.done():
                    waiter.cancel()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def anchored_clock(start_at: datetime, wall_anchor: float, speed: float) -> SimulatedClock:
    """A clock that read `start_at` at wall time `wall_anchor` (epoch seconds) and runs `speed` times
    faster: every process built from the same three values tells the same time (to the wall clocks'
    agreement), so a system of one process per service, and the emulators a test runs beside it,
    share one accelerated day. Before the anchor it reads `start_at`'s past, as a clock would."""
    _require_aware_utc("anchored clock start_at", start_at)
    position = start_at + timedelta(seconds=(time.time() - wall_anchor) * speed)
    return SimulatedClock(position, speed=speed)
