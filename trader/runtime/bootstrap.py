"""Open the back ends that settings name, and close them again: the one place that wires adapters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from redis.asyncio import Redis

from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.bus.redis_streams import RedisStreamsBus
from trader.adapters.clock import WallClock
from trader.adapters.db.engine import create_engine, redacted
from trader.adapters.db.migrate import current_revision, head_revision, upgrade_database
from trader.adapters.rate_limits import InProcessRateLimiter, RedisRateLimiter
from trader.core.ports import Clock, MessageBus
from trader.services.common.resources import Resources
from trader.settings import Environment, Settings

log = logging.getLogger(__name__)


class SchemaOutOfDateError(RuntimeError):
    pass


async def prepare_schema(settings: Settings) -> None:
    """Migrate the embedded database automatically; refuse to run production on an old schema."""
    url = settings.effective_database_url
    if settings.uses_embedded_database or settings.environment in (Environment.DEVELOPMENT, Environment.TEST):
        await asyncio.to_thread(upgrade_database, url)
        return
    current = await asyncio.to_thread(current_revision, url)
    head = head_revision()
    if current != head:
        raise SchemaOutOfDateError(
            f"database {redacted(url)} is at revision {current or 'none'}, code needs {head}: "
            f"run `scripts/deployment/migrate.sh {settings.environment.value}` (or `trader migrate`) first"
        )


@asynccontextmanager
async def open_resources(settings: Settings, *, clock: Clock | None = None) -> AsyncIterator[Resources]:
    engine = create_engine(settings.effective_database_url)
    redis: Redis | None = None
    bus: MessageBus
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3)
        bus = RedisStreamsBus(Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=3))
    else:
        bus = InMemoryBus()
    http = httpx.AsyncClient(timeout=settings.health_timeout_seconds)
    log.info(
        "resources open: database=%s bus=%s",
        redacted(settings.effective_database_url),
        "redis" if redis is not None else "in-process",
    )
    try:
        yield Resources(
            settings=settings,
            engine=engine,
            bus=bus,
            clock=clock or WallClock(),
            http=http,
            redis=redis,
            rate_limiter=RedisRateLimiter(redis) if redis is not None else InProcessRateLimiter(),
        )
    finally:
        await http.aclose()
        await bus.close()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
