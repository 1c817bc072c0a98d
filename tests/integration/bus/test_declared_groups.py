"""Consumer groups exist as soon as the back ends open, so nothing published early is lost."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from trader.adapters.clock import SimulatedClock
from trader.core.events import TradingStateChanged
from trader.core.topics import CONSUMER_GROUPS, TRADING_STATE
from trader.runtime.bootstrap import open_resources
from trader.settings import Settings

AT = datetime(2024, 3, 8, tzinfo=UTC)


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_message_published_before_any_consumer_starts_is_delivered(
    backend: str, tmp_path: Path, sqlite_url: str, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    if redis_url:
        client = Redis.from_url(redis_url)
        await client.flushdb()
        await client.aclose()
    settings = Settings(_env_file=None, database_url=sqlite_url, redis_url=redis_url, log_dir=tmp_path)  # type: ignore[call-arg]
    async with open_resources(settings, clock=SimulatedClock(AT, speed=0)) as resources:
        event = TradingStateChanged(
            occurred_at=AT, previous_state="active", state="halted", reason="r", changed_by="t"
        )
        await resources.bus.publish(TRADING_STATE, event)
        for group in CONSUMER_GROUPS[TRADING_STATE]:
            deliveries = await resources.bus.read(TRADING_STATE, group, "late-starter", block_ms=200)
            assert [delivery.event for delivery in deliveries] == [event]


async def test_claiming_after_a_flush_recreates_the_group(redis_url: str) -> None:
    from trader.adapters.bus.redis_streams import RedisStreamsBus

    client = Redis.from_url(redis_url)
    bus = RedisStreamsBus(client)
    await bus.ensure_group("bars", "strategy_engine")
    await client.flushdb()
    assert await bus.claim_stale("bars", "strategy_engine", "w", min_idle_ms=0) == []
    assert await client.exists("stream:bars") == 1
    await client.flushdb()
    await bus.close()
