"""One contract, two buses: in-process and Redis Streams behave the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from tests.backends import free_port
from trader.adapters.bus.redis_streams import BusUnavailableError, RedisStreamsBus
from trader.core.events import BarClosed, OrderDenied
from trader.core.market import Timeframe
from trader.core.ports import MessageBus

TOPIC = "bars"


def bar_event(minute: int) -> BarClosed:
    moment = datetime(2024, 3, 8, 14, 30 + minute, tzinfo=UTC)
    return BarClosed(
        occurred_at=moment,
        symbol="AAPL",
        timeframe=Timeframe.MINUTE1,
        bar_at=moment,
        open=Decimal("100.10"),
        high=Decimal("101"),
        low=Decimal("99.5"),
        close=Decimal(f"100.{minute:02d}"),
        volume=Decimal(1000),
        source="test",
    )


async def test_published_events_arrive_intact_and_in_order(bus: MessageBus) -> None:
    await bus.ensure_group(TOPIC, "strategy")
    sent = [bar_event(minute) for minute in range(5)]
    for event in sent:
        await bus.publish(TOPIC, event)
    deliveries = await bus.read(TOPIC, "strategy", "worker-1", count=10, block_ms=100)
    assert [delivery.event for delivery in deliveries] == sent
    assert all(delivery.delivery_count == 1 for delivery in deliveries)
    assert isinstance(deliveries[0].event, BarClosed)
    assert deliveries[0].event.close == Decimal("100.00")


async def test_each_group_gets_every_message_and_each_consumer_a_share(bus: MessageBus) -> None:
    await bus.ensure_group(TOPIC, "strategy")
    await bus.ensure_group(TOPIC, "export")
    for minute in range(6):
        await bus.publish(TOPIC, bar_event(minute))
    first = await bus.read(TOPIC, "strategy", "worker-1", count=3, block_ms=100)
    second = await bus.read(TOPIC, "strategy", "worker-2", count=10, block_ms=100)
    exported = await bus.read(TOPIC, "export", "exporter", count=10, block_ms=100)
    assert len(first) == 3 and len(second) == 3
    assert {d.message_id for d in first}.isdisjoint({d.message_id for d in second})
    assert len(exported) == 6


async def test_a_new_group_starts_with_messages_published_after_it(bus: MessageBus) -> None:
    await bus.publish(TOPIC, bar_event(0))
    await bus.ensure_group(TOPIC, "late")
    later = bar_event(1)
    await bus.publish(TOPIC, later)
    deliveries = await bus.read(TOPIC, "late", "worker", block_ms=100)
    assert [d.event for d in deliveries] == [later]


async def test_unacknowledged_messages_come_back_after_a_restart(redis_url: str) -> None:
    # A consumer restart means a new process: only the Redis bus outlives one. (In-process,
    # a dead worker's messages are recovered with claim_stale, tested below for both.)
    client = Redis.from_url(redis_url)
    await client.flushdb()
    bus = RedisStreamsBus(client)
    await bus.ensure_group(TOPIC, "strategy")
    for minute in range(3):
        await bus.publish(TOPIC, bar_event(minute))
    read = await bus.read(TOPIC, "strategy", "worker-1", count=10, block_ms=100)
    await bus.ack(TOPIC, "strategy", [read[0].message_id])
    assert await bus.pending_count(TOPIC, "strategy") == 2

    restarted = RedisStreamsBus(Redis.from_url(redis_url))
    again = await restarted.read(TOPIC, "strategy", "worker-1", count=10, block_ms=100)
    assert [d.message_id for d in again] == [d.message_id for d in read[1:]]
    assert all(d.delivery_count == 2 for d in again)
    await restarted.ack(TOPIC, "strategy", [d.message_id for d in again])
    assert await restarted.pending_count(TOPIC, "strategy") == 0
    assert await restarted.read(TOPIC, "strategy", "worker-1", block_ms=50) == []
    await restarted.close()
    await bus.close()


async def test_a_dead_consumers_messages_are_claimed_by_another(bus: MessageBus) -> None:
    await bus.ensure_group(TOPIC, "strategy")
    for minute in range(2):
        await bus.publish(TOPIC, bar_event(minute))
    taken = await bus.read(TOPIC, "strategy", "doomed", count=10, block_ms=100)
    assert len(taken) == 2
    assert await bus.claim_stale(TOPIC, "strategy", "survivor", min_idle_ms=60_000) == []
    await asyncio.sleep(0.05)
    claimed = await bus.claim_stale(TOPIC, "strategy", "survivor", min_idle_ms=10)
    assert [d.event for d in claimed] == [d.event for d in taken]
    assert all(d.delivery_count == 2 for d in claimed)


async def test_read_blocks_until_a_message_arrives(bus: MessageBus) -> None:
    await bus.ensure_group(TOPIC, "strategy")

    async def publish_later() -> None:
        await asyncio.sleep(0.1)
        await bus.publish(TOPIC, bar_event(0))

    publisher = asyncio.create_task(publish_later())
    deliveries = await bus.read(TOPIC, "strategy", "worker", block_ms=3000)
    await publisher
    assert len(deliveries) == 1
    assert deliveries[0].event.close == Decimal("100.00")


async def test_an_empty_read_returns_after_the_block_time(bus: MessageBus) -> None:
    await bus.ensure_group(TOPIC, "strategy")
    started = asyncio.get_running_loop().time()
    assert await bus.read(TOPIC, "strategy", "worker", block_ms=150) == []
    assert asyncio.get_running_loop().time() - started >= 0.1


async def test_events_of_every_kind_survive_the_trip(bus: MessageBus) -> None:
    await bus.ensure_group("decisions", "executor")
    denied = OrderDenied(
        occurred_at=datetime(2024, 3, 8, 15, 0, tzinfo=UTC),
        signal_event_id="s-1",
        decision_id="d-1",
        symbol="AAPL",
        side="buy",
        reasons=("MAX_POSITION_PCT_EXCEEDED: AAPL 23.1% > 20%",),
    )
    await bus.publish("decisions", denied)
    (delivery,) = await bus.read("decisions", "executor", "worker", block_ms=100)
    assert delivery.event == denied


async def test_publish_many_delivers_in_order_between_single_publishes(bus: MessageBus) -> None:
    await bus.ensure_group(TOPIC, "strategy")
    sent = [bar_event(minute) for minute in range(7)]
    first = await bus.publish(TOPIC, sent[0])
    ids = await bus.publish_many(TOPIC, sent[1:6])
    last = await bus.publish(TOPIC, sent[6])
    assert await bus.publish_many(TOPIC, []) == []
    deliveries = await bus.read(TOPIC, "strategy", "worker", count=20, block_ms=100)
    assert [d.message_id for d in deliveries] == [first, *ids, last]
    assert [d.event for d in deliveries] == sent


async def test_publish_many_fails_loudly_when_redis_is_gone() -> None:
    # A closed port: the pipeline cannot connect, and the caller is told so (it retries the batch).
    bus = RedisStreamsBus.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(BusUnavailableError, match="cannot publish to bars"):
            await bus.publish_many(TOPIC, [bar_event(0), bar_event(1)])
    finally:
        await bus.close()
