"""The latest-bar cache keeps the newest bar per series, in process and on Redis alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from trader.adapters.marketdata.cache import InProcessLatestBarCache, LatestBarCache, RedisLatestBarCache
from trader.core.market import Bar, Timeframe

START = datetime(2024, 3, 8, 14, 30, tzinfo=UTC)


def bar(symbol: str, minute: int, *, timeframe: Timeframe = Timeframe.MINUTE1) -> Bar:
    close = Decimal(100 + minute) + Decimal("0.12345678")
    return Bar(
        symbol=symbol,
        timeframe=timeframe,
        timestamp=START + timedelta(minutes=minute),
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=Decimal(1000 + minute),
        source="test",
        adjustment_factor=Decimal("0.3333333333"),
    )


@pytest.fixture(params=["in_process", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[LatestBarCache]:
    if request.param == "in_process":
        yield InProcessLatestBarCache()
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    yield RedisLatestBarCache(client)
    await client.flushdb()
    await client.aclose()


async def test_a_batch_leaves_the_newest_bar_of_each_series(cache: LatestBarCache) -> None:
    symbols = [f"S{index:03d}" for index in range(300)]
    # Out of order within the batch: the newest wins, not the last given.
    await cache.remember([bar(symbol, minute) for minute in (3, 5, 4) for symbol in symbols])
    await cache.remember([bar("S001", 9, timeframe=Timeframe.MINUTE5)])
    await cache.remember([])  # an empty batch (a minute with nothing fresh) changes nothing
    for symbol in symbols:
        assert await cache.latest(symbol, Timeframe.MINUTE1) == bar(symbol, 5)
    assert await cache.latest("S001", Timeframe.MINUTE5) == bar("S001", 9, timeframe=Timeframe.MINUTE5)
    assert await cache.latest("NONE", Timeframe.MINUTE1) is None


async def test_a_late_older_bar_never_replaces_a_newer_one(cache: LatestBarCache) -> None:
    await cache.remember([bar("AAPL", 10), bar("MSFT", 10)])
    await cache.remember([bar("AAPL", 7), bar("MSFT", 11)])
    assert await cache.latest("AAPL", Timeframe.MINUTE1) == bar("AAPL", 10)
    assert await cache.latest("MSFT", Timeframe.MINUTE1) == bar("MSFT", 11)
