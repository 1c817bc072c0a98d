"""How long to wait before reconnecting a stream: exponential, capped, with jitter.

Equal jitter (half the delay fixed, half random) keeps a restarted fleet from reconnecting in
step, and never waits less than half the planned delay, so a refusing server is not hammered.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ReconnectBackoff:
    first_seconds: float = 1.0
    most_seconds: float = 30.0
    # After a refusal a person may have to act (keys, another process holding the stream): the
    # next attempt waits at least this long, and grows from there like any other.
    refused_seconds: float = 60.0
    uniform: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.first_seconds <= self.most_seconds:
            raise ValueError("backoff needs 0 < first_seconds <= most_seconds")
        if self.refused_seconds < 0:
            raise ValueError("refused_seconds must not be negative")

    def delay(self, failures: int, *, refused: bool = False) -> float:
        """Seconds to wait after `failures` (>= 1) consecutive failed or dropped connections."""
        growth = 2.0 ** (max(failures, 1) - 1)
        planned = min(self.most_seconds, self.first_seconds * growth)
        if refused:
            planned = max(planned, min(self.refused_seconds * growth, 10 * self.refused_seconds))
        return planned / 2 + self.uniform() * planned / 2
