"""A circuit breaker per provider: after repeated failures stop calling it for a while.

closed -> (threshold consecutive failures) -> open -> (cool-down passed) -> half_open: one trial
call; success closes, failure opens again with a doubled cool-down (capped). An exhausted quota
opens the circuit exactly until the quota's reset, whatever the failure count.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from trader.core.ports import Clock


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class CircuitSnapshot:
    state: CircuitState
    consecutive_failures: int
    opened_at: datetime | None
    retry_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "consecutive_failures": self.consecutive_failures,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
        }


class CircuitBreaker:
    def __init__(
        self,
        clock: Clock,
        *,
        failure_threshold: int = 3,
        cool_down: timedelta = timedelta(seconds=30),
        max_cool_down: timedelta = timedelta(minutes=10),
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self._clock = clock
        self._threshold = failure_threshold
        self._base_cool_down = cool_down
        self._max_cool_down = max_cool_down
        self._cool_down = cool_down
        self._failures = 0
        self._opened_at: datetime | None = None
        self._retry_at: datetime | None = None

    @property
    def state(self) -> CircuitState:
        if self._retry_at is None:
            return CircuitState.CLOSED
        if self._clock.now() >= self._retry_at:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def allows_call(self) -> bool:
        return self.state is not CircuitState.OPEN

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._retry_at = None
        self._cool_down = self._base_cool_down

    def record_failure(self) -> None:
        was_trial = self.state is CircuitState.HALF_OPEN
        self._failures += 1
        if was_trial:
            self._cool_down = min(self._cool_down * 2, self._max_cool_down)
            self._open_until(self._clock.now() + self._cool_down)
        elif self._failures >= self._threshold:
            self._open_until(self._clock.now() + self._cool_down)

    def open_until(self, moment: datetime) -> None:
        """Open now and stay open until `moment` (an exhausted quota's reset)."""
        self._failures += 1
        self._open_until(moment)

    def _open_until(self, moment: datetime) -> None:
        now = self._clock.now()
        self._opened_at = now
        self._retry_at = max(moment, now)

    def snapshot(self) -> CircuitSnapshot:
        return CircuitSnapshot(self.state, self._failures, self._opened_at, self._retry_at)
