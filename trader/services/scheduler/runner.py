"""The job runner: runs each job when due, records every attempt, retries with backoff, leads alone.

Time comes from the clock port, so the same runner drives the wall clock in production and the
accelerated replay clock of the embedded default.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trader.adapters.db.stores.jobs import JobRunStore
from trader.adapters.leader import LeaderLock
from trader.core.ports import Clock
from trader.core.schedule import Cadence, MissedRunPolicy, decide_missed_run, next_due_after, retry_delay
from trader.core.sessions import MarketCalendar
from trader.services.common.metrics import JobMetrics

log = logging.getLogger(__name__)

JobAction = Callable[[], Awaitable[dict[str, Any] | None]]


class JobFailedError(RuntimeError):
    """A job's action reports a failure it understood (the message goes into job_runs)."""


@dataclass(frozen=True, slots=True)
class JobDefinition:
    name: str
    description: str
    cadence: Cadence
    action: JobAction
    missed_policy: MissedRunPolicy = MissedRunPolicy.RUN_ONCE
    max_attempts: int = 3
    retry_base_seconds: float = 30.0
    timeout_seconds: float = 600.0
    # On an accelerated clock (the replay), a regular run due sooner than this many wall-clock
    # seconds after the last one (or the scheduler's start) is skipped and recorded: a daily job
    # would otherwise run every few seconds. On a real-time clock this never applies.
    min_wall_interval_seconds: float = 0.0


@dataclass(slots=True)
class _JobState:
    definition: JobDefinition
    next_due_at: datetime
    scheduled_for: datetime
    attempt: int = 1
    running: asyncio.Task[None] | None = None
    last_wall_started: float | None = None

    @property
    def busy(self) -> bool:
        return self.running is not None and not self.running.done()


class UnknownJobError(KeyError):
    pass


class Scheduler:
    def __init__(
        self,
        jobs: Sequence[JobDefinition],
        store: JobRunStore,
        calendar: MarketCalendar,
        clock: Clock,
        leader: LeaderLock,
        *,
        leader_check_seconds: float = 5.0,
    ) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate job names in {names}")
        self._jobs = {job.name: job for job in jobs}
        self._store = store
        self._calendar = calendar
        self._clock = clock
        self._leader = leader
        self._leader_check_seconds = leader_check_seconds
        self._states: dict[str, _JobState] = {}
        self._wake = asyncio.Event()
        self._prepared = asyncio.Event()
        self._started_wall = time.monotonic()
        self._started_at: datetime | None = None
        self.is_leader = False
        self.metrics: JobMetrics | None = None
        # Told about a job that failed its last attempt (the notification dispatcher).
        self.on_final_failure: Callable[[str, str, int], Awaitable[None]] | None = None

    @property
    def jobs(self) -> tuple[JobDefinition, ...]:
        return tuple(self._jobs.values())

    def next_due_at(self, name: str) -> datetime | None:
        state = self._states.get(name)
        return state.next_due_at if state else None

    def is_running(self, name: str) -> bool:
        state = self._states.get(name)
        return state is not None and state.busy

    def definition(self, name: str) -> JobDefinition:
        try:
            return self._jobs[name]
        except KeyError:
            raise UnknownJobError(name) from None

    async def _prepare(self) -> None:
        now = self._clock.now()
        interrupted = await self._store.interrupt_unfinished(now)
        if interrupted:
            log.warning("marked %d job run(s) left running by a previous scheduler as failed", interrupted)
        for job in self._jobs.values():
            last = await self._store.last_scheduled_for(job.name)
            decision = decide_missed_run(job.cadence, job.missed_policy, last, now, self._calendar)
            due = next_due_after(job.cadence, now, self._calendar)
            state = _JobState(job, next_due_at=due, scheduled_for=due)
            if decision.missed_due_at is not None:
                if decision.run_now:
                    log.info(
                        "job %s missed its run due at %s; running it once now",
                        job.name,
                        decision.missed_due_at,
                    )
                    state.next_due_at = now
                    state.scheduled_for = decision.missed_due_at
                else:
                    log.info(
                        "job %s missed its run due at %s; skipping it by policy",
                        job.name,
                        decision.missed_due_at,
                    )
                    await self._store.record_skipped(
                        job.name,
                        scheduled_for=decision.missed_due_at,
                        at=now,
                        reason="missed while the scheduler was down; policy is skip",
                    )
            self._states[job.name] = state
        self._started_wall, self._started_at = time.monotonic(), now
        self._prepared.set()

    async def run(self) -> None:
        """Run until cancelled."""
        try:
            await self._wait_for_leadership()
            await self._prepare()
            while True:
                if not await self._leader.acquire():
                    log.warning("lost scheduler leadership; waiting to lead again")
                    self.is_leader = False
                    await self._wait_for_leadership()
                now = self._clock.now()
                for state in self._states.values():
                    if state.next_due_at <= now and not state.busy:
                        await self._launch(state)
                upcoming = min(state.next_due_at for state in self._states.values()) if self._states else None
                await self._wait(upcoming)
        finally:
            for state in self._states.values():
                if state.running is not None:
                    state.running.cancel()  # a no-op on a finished run
            if self.is_leader:
                await self._leader.release()
                self.is_leader = False

    async def _wait_for_leadership(self) -> None:
        # A lock held elsewhere sends no notice when it expires: polling is the protocol.
        while not await self._leader.acquire():  # noqa: ASYNC110
            await asyncio.sleep(self._leader_check_seconds)
        if not self.is_leader:
            log.info("scheduler %s is the leader", self._leader.owner)
        self.is_leader = True

    async def _wait(self, until: datetime | None) -> None:
        waiters = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(asyncio.sleep(self._leader_check_seconds)),
        }
        if until is not None:
            waiters.add(asyncio.ensure_future(self._clock.sleep_until(until)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._wake.clear()

    async def _launch(self, state: _JobState) -> None:
        paused = await self._store.pause(state.definition.name)
        if paused.paused:
            now = self._clock.now()
            await self._store.record_skipped(
                state.definition.name,
                scheduled_for=state.scheduled_for,
                at=now,
                reason=f"paused: {paused.reason}",
            )
            self._advance(state, now)
            return
        job = state.definition
        if job.min_wall_interval_seconds > 0 and state.attempt == 1 and self._accelerated():
            elapsed = time.monotonic() - (state.last_wall_started or self._started_wall)
            if elapsed < job.min_wall_interval_seconds:
                now = self._clock.now()
                await self._store.record_skipped(
                    job.name,
                    scheduled_for=state.scheduled_for,
                    at=now,
                    reason=f"last run started {elapsed:.0f}s ago by the wall clock; "
                    f"runs at most every {job.min_wall_interval_seconds:g}s",
                )
                self._advance(state, now)
                return
        state.running = asyncio.create_task(self._execute(state), name=f"job:{state.definition.name}")

    def _accelerated(self) -> bool:
        """Has the clock run more than twice as fast as the wall clock since the scheduler started?"""
        if self._started_at is None:
            return False
        wall = time.monotonic() - self._started_wall
        simulated = (self._clock.now() - self._started_at).total_seconds()
        return simulated > 2 * max(wall, 1.0)

    def _advance(self, state: _JobState, now: datetime) -> None:
        state.attempt = 1
        state.next_due_at = next_due_after(
            state.definition.cadence, max(now, state.scheduled_for), self._calendar
        )
        state.scheduled_for = state.next_due_at

    async def _execute(self, state: _JobState) -> None:
        job = state.definition
        started_at = self._clock.now()
        state.last_wall_started = time.monotonic()
        run_id = await self._store.start(
            job.name, scheduled_for=state.scheduled_for, started_at=started_at, attempt=state.attempt
        )
        wall_started = time.perf_counter()
        error: str | None = None
        details: dict[str, Any] | None = None
        try:
            details = await asyncio.wait_for(job.action(), timeout=job.timeout_seconds)
        except TimeoutError:
            error = f"timed out after {job.timeout_seconds:g}s"
        except asyncio.CancelledError:
            await self._store.finish(
                run_id,
                status="failed",
                finished_at=self._clock.now(),
                error_message="cancelled: the scheduler stopped",
            )
            raise
        except Exception as failure:  # every failure is recorded; the loop carries on
            error = f"{type(failure).__name__}: {failure}"
            if not isinstance(failure, JobFailedError):
                log.exception("job %s failed", job.name)
        finished_at = self._clock.now()
        elapsed = time.perf_counter() - wall_started
        if self.metrics is not None:
            self.metrics.job_duration_seconds.labels(job.name).observe(elapsed)
            if error is None:
                self.metrics.job_last_success.labels(job.name).set(time.time())
            else:
                self.metrics.job_failures.labels(job.name).inc()
        if error is None:
            await self._store.finish(run_id, status="succeeded", finished_at=finished_at, details=details)
            log.info("job %s succeeded in %.2fs", job.name, elapsed)
            self._advance(state, finished_at)
        else:
            await self._store.finish(
                run_id, status="failed", finished_at=finished_at, error_message=error, details=details
            )
            if state.attempt < job.max_attempts:
                delay = retry_delay(state.attempt, job.retry_base_seconds)
                log.warning(
                    "job %s failed (attempt %d/%d): %s; retrying in %s",
                    job.name,
                    state.attempt,
                    job.max_attempts,
                    error,
                    delay,
                )
                state.attempt += 1
                state.next_due_at = finished_at + delay
            else:
                log.error("job %s failed after %d attempts: %s", job.name, state.attempt, error)
                if self.on_final_failure is not None:
                    try:
                        await self.on_final_failure(job.name, error, state.attempt)
                    except Exception:  # telling someone must not stop the schedule
                        log.exception("could not report the failure of job %s", job.name)
                self._advance(state, finished_at)
        self._wake.set()

    async def trigger(self, name: str) -> None:
        """Run a job now, outside its cadence (paused or not: an operator asked for it)."""
        job = self.definition(name)
        if name not in self._states and self.is_leader:
            # Just became the leader and still planning the jobs (a few queries): wait for that.
            await asyncio.wait_for(self._prepared.wait(), timeout=30)
        state = self._states.get(name)
        if state is None:
            raise RuntimeError("the scheduler is not leading, so it runs no jobs here")
        if state.busy:
            raise JobAlreadyRunningError(f"job {job.name} is already running")
        manual = _JobState(
            job, next_due_at=state.next_due_at, scheduled_for=self._clock.now(), attempt=job.max_attempts
        )
        # Run on its own state: a manual run does not move the regular schedule.
        state.running = asyncio.create_task(self._execute(manual), name=f"job:{name}:manual")


class JobAlreadyRunningError(RuntimeError):
    pass
