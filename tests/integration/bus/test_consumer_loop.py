"""The shared consumer loop: ack after success, retry on failure, drop a poison message eventually."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from trader.core.events import Event, TradingStateChanged
from trader.core.ports import MessageBus
from trader.services.common.consumers import consume


def event(reason: str) -> TradingStateChanged:
    return TradingStateChanged(
        occurred_at=datetime(2024, 3, 8, tzinfo=UTC),
        previous_state="active",
        state="halted",
        reason=reason,
        changed_by="test",
    )


async def run_until(
    condition: Callable[[], Awaitable[bool]], task: asyncio.Task[None], seconds: float = 10
) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_failures_are_retried_until_the_handler_succeeds(bus: MessageBus) -> None:
    await bus.ensure_group("state", "workers")
    attempts: dict[str, int] = {}
    handled: list[str] = []

    async def flaky(received: Event) -> None:
        assert isinstance(received, TradingStateChanged)
        attempts[received.reason] = attempts.get(received.reason, 0) + 1
        if received.reason == "flaky" and attempts["flaky"] < 3:
            raise RuntimeError("not yet")
        handled.append(received.reason)

    await bus.publish("state", event("fine"))
    await bus.publish("state", event("flaky"))
    task = asyncio.create_task(
        consume(bus, "state", "workers", flaky, consumer="w1", block_ms=50, stale_after_ms=20)
    )

    async def done() -> bool:
        return "flaky" in handled and await bus.pending_count("state", "workers") == 0

    await run_until(done, task)
    assert handled == ["fine", "flaky"]
    assert attempts == {"fine": 1, "flaky": 3}
    assert await bus.pending_count("state", "workers") == 0


async def test_a_poison_message_is_dropped_after_the_limit(bus: MessageBus) -> None:
    await bus.ensure_group("state", "workers")
    seen: list[int] = []

    async def always_fails(_received: Event) -> None:
        seen.append(1)
        raise ValueError("bad event")

    await bus.publish("state", event("poison"))
    task = asyncio.create_task(
        consume(
            bus,
            "state",
            "workers",
            always_fails,
            consumer="w1",
            block_ms=50,
            stale_after_ms=10,
            max_deliveries=3,
        )
    )

    async def dropped() -> bool:
        return len(seen) >= 3 and await bus.pending_count("state", "workers") == 0

    await run_until(dropped, task)
    assert len(seen) == 3
    assert await bus.pending_count("state", "workers") == 0


async def test_a_batch_is_handled_together_and_a_failing_batch_one_by_one(bus: MessageBus) -> None:
    await bus.ensure_group("state", "workers")
    batches: list[list[str]] = []
    singles: list[str] = []

    async def together(received: Sequence[Event]) -> None:
        reasons = [item.reason for item in received if isinstance(item, TradingStateChanged)]
        batches.append(reasons)
        if "poison" in reasons:
            raise ValueError("one of them is bad")

    async def one(received: Event) -> None:
        assert isinstance(received, TradingStateChanged)
        if received.reason == "poison":
            raise ValueError("bad event")
        singles.append(received.reason)

    def start() -> asyncio.Task[None]:
        return asyncio.create_task(
            consume(
                bus,
                "state",
                "workers",
                one,
                batch_handler=together,
                consumer="w1",
                block_ms=50,
                stale_after_ms=10,
                max_deliveries=2,
            )
        )

    await bus.publish_many("state", [event("a"), event("b")])
    task = start()

    async def first_batch_done() -> bool:
        return batches == [["a", "b"]] and await bus.pending_count("state", "workers") == 0

    await run_until(first_batch_done, task)
    assert singles == []  # handled together, acknowledged together

    await bus.publish_many("state", [event("c"), event("poison"), event("d")])
    task = start()

    async def poison_dropped() -> bool:
        return await bus.pending_count("state", "workers") == 0 and "d" in singles

    await run_until(poison_dropped, task)
    assert batches[1] == ["c", "poison", "d"]
    # One by one: c and d handled; the poison retried alone (its batch of one fails again) and dropped.
    assert singles[:2] == ["c", "d"]
