"""The job runner on a simulated clock: due runs, retries with backoff, missed runs, pauses, leadership."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.jobs import JobRunStore
from trader.adapters.leader import PostgresAdvisoryLock, RedisLeaderLock, SoleLeader
from trader.core.schedule import AtSessionEvent, EveryInterval, MissedRunPolicy
from trader.services.scheduler.runner import JobDefinition, JobFailedError, Scheduler

FRIDAY_OPEN = datetime(2024, 3, 8, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def calendar() -> XNYSCalendar:
    return XNYSCalendar(start=date(2024, 1, 2), end=date(2024, 12, 31))


async def settle(condition: Any, seconds: float = 5.0) -> None:
    """Let the scheduler's tasks run until `condition()` holds (bounded, never a fixed sleep)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class Counter:
    def __init__(self, failures: int = 0) -> None:
        self.calls: list[datetime] = []
        self.failures = failures

    def action(self, clock: SimulatedClock) -> Any:
        async def run() -> dict[str, Any]:
            self.calls.append(clock.now())
            if len(self.calls) <= self.failures:
                raise JobFailedError(f"failure {len(self.calls)}")
            return {"call": len(self.calls)}

        return run


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[JobRunStore]:
    engine = create_engine(sqlite_url)
    yield JobRunStore(engine)
    await engine.dispose()


async def run_scheduler(scheduler: Scheduler) -> asyncio.Task[None]:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.05)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_interval_jobs_run_when_due_and_are_recorded(
    store: JobRunStore, calendar: XNYSCalendar
) -> None:
    clock = SimulatedClock(FRIDAY_OPEN - timedelta(minutes=1), speed=0)
    counter = Counter()
    job = JobDefinition("collect", "test", EveryInterval(60), counter.action(clock))
    task = await run_scheduler(
        Scheduler([job], store, calendar, clock, SoleLeader(), leader_check_seconds=0.05)
    )
    try:
        assert counter.calls == []
        for minute in range(3):
            clock.advance_to(FRIDAY_OPEN + timedelta(minutes=minute))
            await settle(lambda n=minute: _count(store, "collect", "succeeded", n + 1))
    finally:
        await stop(task)
    assert counter.calls == [FRIDAY_OPEN + timedelta(minutes=m) for m in range(3)]
    runs = await store.recent("collect")
    assert [run.scheduled_for for run in reversed(runs)] == [
        FRIDAY_OPEN + timedelta(minutes=m) for m in range(3)
    ]
    assert all(run.duration_ms is not None and run.finished_at is not None for run in runs)


async def _count(store: JobRunStore, name: str, status: str, expected: int) -> bool:
    return sum(1 for run in await store.recent(name, limit=500) if run.status == status) >= expected


async def test_a_failed_run_is_retried_with_backoff(store: JobRunStore, calendar: XNYSCalendar) -> None:
    clock = SimulatedClock(FRIDAY_OPEN - timedelta(seconds=1), speed=0)
    counter = Counter(failures=2)
    job = JobDefinition(
        "flaky", "test", AtSessionEvent("open"), counter.action(clock), max_attempts=3, retry_base_seconds=10
    )
    task = await run_scheduler(
        Scheduler([job], store, calendar, clock, SoleLeader(), leader_check_seconds=0.05)
    )
    try:
        clock.advance_to(FRIDAY_OPEN)
        await settle(lambda: _count(store, "flaky", "failed", 1))
        clock.advance_by(timedelta(seconds=9))
        await asyncio.sleep(0.1)
        assert len(counter.calls) == 1  # not before the 10 s backoff
        clock.advance_by(timedelta(seconds=1))
        await settle(lambda: _count(store, "flaky", "failed", 2))
        clock.advance_by(timedelta(seconds=20))  # second backoff doubles
        await settle(lambda: _count(store, "flaky", "succeeded", 1))
    finally:
        await stop(task)
    runs = list(reversed(await store.recent("flaky")))
    assert [(run.status, run.attempt) for run in runs] == [("failed", 1), ("failed", 2), ("succeeded", 3)]
    assert runs[0].error_message == "JobFailedError: failure 1"
    assert counter.calls == [
        FRIDAY_OPEN,
        FRIDAY_OPEN + timedelta(seconds=10),
        FRIDAY_OPEN + timedelta(seconds=30),
    ]


@pytest.mark.parametrize("policy", [MissedRunPolicy.RUN_ONCE, MissedRunPolicy.SKIP])
async def test_runs_missed_during_downtime_follow_the_policy(
    store: JobRunStore, calendar: XNYSCalendar, policy: MissedRunPolicy
) -> None:
    # The report ran after Tuesday's close; the scheduler was down until Friday morning.
    tuesday = datetime(2024, 3, 5, 21, 10, tzinfo=UTC)
    run_id = await store.start("eod", scheduled_for=tuesday, started_at=tuesday, attempt=1)
    await store.finish(run_id, status="succeeded", finished_at=tuesday + timedelta(seconds=2))
    friday_morning = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
    clock = SimulatedClock(friday_morning, speed=0)
    counter = Counter()
    job = JobDefinition(
        "eod",
        "test",
        AtSessionEvent("close", timedelta(minutes=10)),
        counter.action(clock),
        missed_policy=policy,
    )
    scheduler = Scheduler([job], store, calendar, clock, SoleLeader(), leader_check_seconds=0.05)
    task = await run_scheduler(scheduler)
    try:
        if policy is MissedRunPolicy.RUN_ONCE:
            await settle(lambda: _count(store, "eod", "succeeded", 2))
            assert counter.calls == [friday_morning]  # once, not once per missed day
        else:
            await settle(lambda: _count(store, "eod", "skipped", 1))
            assert counter.calls == []
        assert scheduler.next_due_at("eod") == datetime(2024, 3, 8, 21, 10, tzinfo=UTC)
    finally:
        await stop(task)
    newest = (await store.recent("eod"))[0]
    assert newest.scheduled_for == datetime(2024, 3, 7, 21, 10, tzinfo=UTC)


async def test_a_paused_job_is_skipped_and_recorded(store: JobRunStore, calendar: XNYSCalendar) -> None:
    clock = SimulatedClock(FRIDAY_OPEN - timedelta(minutes=1), speed=0)
    counter = Counter()
    await store.set_pause("collect", paused=True, reason="provider outage", changed_by="ops", at=FRIDAY_OPEN)
    job = JobDefinition("collect", "test", EveryInterval(60), counter.action(clock))
    task = await run_scheduler(
        Scheduler([job], store, calendar, clock, SoleLeader(), leader_check_seconds=0.05)
    )
    try:
        clock.advance_to(FRIDAY_OPEN)
        await settle(lambda: _count(store, "collect", "skipped", 1))
    finally:
        await stop(task)
    assert counter.calls == []
    assert (await store.recent("collect"))[0].error_message == "paused: provider outage"


async def test_a_crashed_run_is_marked_failed_at_the_next_start(
    store: JobRunStore, calendar: XNYSCalendar
) -> None:
    await store.start("collect", scheduled_for=FRIDAY_OPEN, started_at=FRIDAY_OPEN, attempt=1)
    clock = SimulatedClock(FRIDAY_OPEN + timedelta(hours=1), speed=0)
    job = JobDefinition(
        "collect", "test", EveryInterval(60), Counter().action(clock), missed_policy=MissedRunPolicy.SKIP
    )
    task = await run_scheduler(
        Scheduler([job], store, calendar, clock, SoleLeader(), leader_check_seconds=0.05)
    )
    await stop(task)
    crashed = [run for run in await store.recent("collect") if run.started_at == FRIDAY_OPEN]
    assert [(run.status, run.error_message) for run in crashed] == [
        ("failed", "interrupted: the scheduler stopped mid-run")
    ]


async def test_redis_leadership_is_exclusive_and_expires(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    await client.delete("leader:scheduler")
    first = RedisLeaderLock(client, ttl_seconds=0.3)
    second = RedisLeaderLock(client, ttl_seconds=0.3)
    try:
        assert await first.acquire()
        assert not await second.acquire()
        assert await first.acquire()  # renewal by the owner
        await first.release()
        assert await second.acquire()
        await asyncio.sleep(0.45)  # second stops renewing, as a crashed leader would
        assert await first.acquire()
        await second.release()  # not the owner any more: must not free first's lock
        assert await client.get("leader:scheduler") == first.owner.encode()
    finally:
        await client.delete("leader:scheduler")
        await client.aclose()


async def test_postgres_advisory_leadership(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    first, second = PostgresAdvisoryLock(engine, key=424242), PostgresAdvisoryLock(engine, key=424242)
    try:
        assert await first.acquire()
        assert not await second.acquire()
        await first.release()
        assert await second.acquire()
    finally:
        await second.release()
        await first.release()
        await engine.dispose()


async def test_two_schedulers_on_one_redis_run_each_job_once(
    postgres_url: str, redis_url: str, calendar: XNYSCalendar, engine_for_postgres: AsyncEngine
) -> None:
    client = Redis.from_url(redis_url)
    await client.delete("leader:scheduler")
    store = JobRunStore(engine_for_postgres)
    clock = SimulatedClock(FRIDAY_OPEN - timedelta(minutes=1), speed=0)
    counters = [Counter(), Counter()]
    schedulers = [
        Scheduler(
            [JobDefinition("collect", "t", EveryInterval(60), counter.action(clock))],
            store,
            calendar,
            clock,
            RedisLeaderLock(client, ttl_seconds=5),
            leader_check_seconds=0.05,
        )
        for counter in counters
    ]
    tasks = [await run_scheduler(scheduler) for scheduler in schedulers]
    try:
        for minute in range(5):
            clock.advance_to(FRIDAY_OPEN + timedelta(minutes=minute))
            await settle(lambda n=minute: _count(store, "collect", "succeeded", n + 1))
        await asyncio.sleep(0.2)
    finally:
        for task in tasks:
            await stop(task)
        await client.delete("leader:scheduler")
        await client.aclose()
    assert sorted(len(counter.calls) for counter in counters) == [0, 5]
    scheduled = [run.scheduled_for for run in await store.recent("collect")]
    assert len(scheduled) == len(set(scheduled)) == 5


@pytest.fixture
async def engine_for_postgres(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("TRUNCATE job_runs, system_flags RESTART IDENTITY")
    yield engine
    await engine.dispose()
