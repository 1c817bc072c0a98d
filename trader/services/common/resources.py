"""What a service is built from: the opened back ends, handed to `create_app`.

Opened once by the runtime (for one service or for all seven in one process) and closed by it;
an app never opens or closes them itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.rate_limits import InProcessRateLimiter, RateLimiter
from trader.core.ports import Clock, MessageBus
from trader.settings import Settings


@dataclass(slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    bus: MessageBus
    clock: Clock
    http: httpx.AsyncClient
    redis: Redis | None = None
    rate_limiter: RateLimiter = field(default_factory=InProcessRateLimiter)
    _calendar: XNYSCalendar | None = None

    @property
    def calendar(self) -> XNYSCalendar:
        """The NYSE calendar, loaded on first use (about 0.2 s) and shared by every service."""
        if self._calendar is None:
            self._calendar = XNYSCalendar()
        return self._calendar

    started_at: dict[str, float] = field(default_factory=dict)

    @property
    def bus_component(self) -> str:
        """How the health checks name the bus: 'redis' when Redis carries it."""
        return "redis" if self.redis is not None else "bus"
