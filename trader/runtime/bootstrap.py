"""Open the back ends that settings name, and close them again: the one place that wires adapters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time

import httpx
from redis.asyncio import Redis

from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.bus.redis_streams import RedisStreamsBus
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import WallClock, anchored_clock
from trader.adapters.db.engine import create_engine, redacted
from trader.adapters.db.migrate import current_revision, head_revision, upgrade_database
from trader.adapters.rate_limits import InProcessRateLimiter, RedisRateLimiter
from trader.core.ports import Clock, MessageBus
from trader.core.topics import CONSUMER_GROUPS
from trader.runtime.replay_clock import keep_saving, open_replay_clock
from trader.services.common.resources import Resources
from trader.settings import Environment, MarketDataSource, Settings

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


async def declare_consumer_groups(bus: MessageBus) -> None:
    """Create every consumer group before anything publishes (idempotent)."""
    try:
        for topic, groups in CONSUMER_GROUPS.items():
            for group in groups:
                await bus.ensure_group(topic, group)
    except Exception as error:  # Redis down at start: /health says so; consumers retry on their own
        log.error("could not declare the consumer groups yet: %s", error)


@asynccontextmanager
async def open_resources(settings: Settings, *, clock: Clock | None = None) -> AsyncIterator[Resources]:
    """Open what the settings name. Without an explicit clock, the replay source gets the
    accelerated replay clock (resumed after a restart) and everything else the wall clock."""
    engine = create_engine(settings.effective_database_url)
    redis: Redis | None = None
    bus: MessageBus
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3)
        bus = RedisStreamsBus(Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=3))
    else:
        bus = InMemoryBus()
    await declare_consumer_groups(bus)
    http = httpx.AsyncClient(timeout=settings.health_timeout_seconds)
    calendar = XNYSCalendar()
    saver: asyncio.Task[None] | None = None
    if clock is None and settings.market_data_source is MarketDataSource.REPLAY:
        start = datetime.combine(settings.replay_start, time(0, 0), tzinfo=UTC)
        replay = await open_replay_clock(engine, calendar, start, settings.replay_speed)
        saver = asyncio.create_task(keep_saving(engine, replay), name="replay-clock-saver")
        clock = replay
    elif clock is None and settings.live_clock_start is not None and settings.live_clock_anchor is not None:
        speed = settings.live_clock_speed
        clock = anchored_clock(settings.live_clock_start, settings.live_clock_anchor, speed)
        log.warning(
            "live sources on an accelerated clock: %s at %.0fx (LIVE_CLOCK_START), not the wall clock",
            clock.now().isoformat(),
            speed,
        )
    log.info(
        "resources open: database=%s bus=%s clock=%s",
        redacted(settings.effective_database_url),
        "redis" if redis is not None else "in-process",
        type(clock or WallClock()).__name__,
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
            _calendar=calendar,
        )
    finally:
        if saver is not None:
            saver.cancel()
            await asyncio.gather(saver, return_exceptions=True)
        await http.aclose()
        await bus.close()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
