"""Job cadences from settings text, and which bar the catch-up collection expects to be stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.core.market import Timeframe
from trader.core.schedule import AtSessionEvent, DailyAt, EveryInterval, next_due_after
from trader.runtime.bootstrap import open_resources
from trader.services.common.notifications import dispatcher_from_settings
from trader.services.scheduler.cadences import CadenceSyntaxError, chosen_cadences, parse_cadence
from trader.services.scheduler.jobs import build_jobs, latest_closed_bar
from trader.settings import Settings


@pytest.fixture(scope="module")
def calendar() -> XNYSCalendar:
    return XNYSCalendar(start=date(2024, 1, 2), end=date(2024, 12, 31))


def test_cadence_texts() -> None:
    assert parse_cadence("close+45m") == AtSessionEvent("close", timedelta(minutes=45))
    assert parse_cadence(" Open - 5 min ") == AtSessionEvent("open", -timedelta(minutes=5))
    assert parse_cadence("close") == AtSessionEvent("close")
    assert parse_cadence("every 15m") == EveryInterval(900)
    assert parse_cadence("every 1h round the clock") == EveryInterval(3600, during_session_only=False)
    assert parse_cadence("daily 02:30") == DailyAt(time(2, 30))
    assert parse_cadence("mon,thu 06:30") == DailyAt(time(6, 30), frozenset({0, 3}))
    for wrong in ("tomorrow", "every 0m", "fri 25:00", "funday 06:00", "close+5 parsecs"):
        with pytest.raises(CadenceSyntaxError):
            parse_cadence(wrong)
    with pytest.raises(CadenceSyntaxError, match="unknown job"):
        chosen_cadences({"backup": AtSessionEvent("close")}, {"bakup": "close"})


def test_the_newest_closed_bar_follows_sessions_and_early_closes(calendar: XNYSCalendar) -> None:
    # Friday after Thanksgiving 2024 closes early, at 18:00 UTC.
    early = datetime(2024, 11, 29, 18, 0, tzinfo=UTC)
    session, start = latest_closed_bar(calendar, Timeframe.MINUTE15, early + timedelta(minutes=3))
    assert (session.session_date, start) == (date(2024, 11, 29), early - timedelta(minutes=15))
    session, start = latest_closed_bar(calendar, Timeframe.MINUTE15, early - timedelta(minutes=7))
    assert start == early - timedelta(minutes=30)  # the 17:45 bar is still forming
    # Saturday: the last daily bar is Friday's; during Monday's session it still is.
    session, _start = latest_closed_bar(calendar, Timeframe.DAY1, datetime(2024, 11, 30, 12, tzinfo=UTC))
    assert session.session_date == date(2024, 11, 29)
    session, _start = latest_closed_bar(calendar, Timeframe.DAY1, datetime(2024, 12, 2, 16, tzinfo=UTC))
    assert session.session_date == date(2024, 11, 29)
    # Before Monday's first minute bar closes, the newest is Friday's last one.
    session, start = latest_closed_bar(
        calendar, Timeframe.MINUTE1, datetime(2024, 12, 2, 14, 30, 30, tzinfo=UTC)
    )
    assert (session.session_date, start) == (date(2024, 11, 29), early - timedelta(minutes=1))


async def test_settings_override_a_job_cadence(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        log_dir=tmp_path,
        scheduler_cadences={"backup": "sun 04:00", "collect_bars": "every 5m"},
    )
    async with open_resources(
        settings, clock=SimulatedClock(datetime(2024, 3, 8, tzinfo=UTC), speed=0)
    ) as opened:
        jobs = {job.name: job for job in build_jobs(opened, dispatcher_from_settings(settings, opened.http))}
        friday = datetime(2024, 3, 8, 15, 2, tzinfo=UTC)
        assert next_due_after(jobs["backup"].cadence, friday, opened.calendar) == datetime(
            2024, 3, 10, 8, 0, tzinfo=UTC
        )
        assert next_due_after(jobs["collect_bars"].cadence, friday, opened.calendar) == datetime(
            2024, 3, 8, 15, 5, tzinfo=UTC
        )
        # Untouched jobs keep their defaults; the heavy ones are throttled by the wall clock.
        assert jobs["broker_reconciliation"].cadence == AtSessionEvent("close", timedelta(minutes=10))
        assert (
            jobs["model_retraining"].min_wall_interval_seconds
            == settings.scheduler_heavy_job_min_wall_seconds
        )


async def test_on_an_accelerated_clock_a_heavy_job_runs_at_most_once_per_wall_interval(
    sqlite_url: str, calendar: XNYSCalendar
) -> None:
    import asyncio

    from trader.adapters.db.engine import create_engine
    from trader.adapters.db.stores.jobs import JobRunStore
    from trader.adapters.leader import SoleLeader
    from trader.services.scheduler.runner import JobDefinition, Scheduler

    # Wide enough that a slow poll on a loaded machine cannot cross it by accident.
    interval = 2.0
    engine = create_engine(sqlite_url)
    store = JobRunStore(engine)
    clock = SimulatedClock(datetime(2024, 3, 4, 20, 0, tzinfo=UTC), speed=0)
    calls: list[datetime] = []

    async def work() -> dict[str, int]:
        calls.append(clock.now())
        return {"calls": len(calls)}

    job = JobDefinition("backup", "test", AtSessionEvent("close"), work, min_wall_interval_seconds=interval)
    scheduler = Scheduler([job], store, calendar, clock, SoleLeader(), leader_check_seconds=0.05)
    task = asyncio.create_task(scheduler.run())

    async def finished(count: int) -> None:
        for _ in range(500):
            if len([run for run in await store.recent("backup") if run.finished_at]) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("no run recorded")

    try:
        for _ in range(500):  # the runner plans its jobs once it leads
            if scheduler.next_due_at("backup") is not None:
                break
            await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        # Simulated days pass in moments: Monday's close is skipped (just started), Tuesday's runs
        # once the wall interval has passed, Wednesday's straight after is skipped again.
        clock.advance_to(datetime(2024, 3, 4, 21, 0, tzinfo=UTC))
        await finished(1)
        await asyncio.sleep(max(0.0, interval + 0.05 - (asyncio.get_running_loop().time() - started)))
        clock.advance_to(datetime(2024, 3, 5, 21, 0, tzinfo=UTC))
        await finished(2)
        clock.advance_to(datetime(2024, 3, 6, 21, 0, tzinfo=UTC))
        await finished(3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()
    runs = list(reversed(await store.recent("backup")))
    assert calls == [datetime(2024, 3, 5, 21, 0, tzinfo=UTC)]
    assert [run.status for run in runs] == ["skipped", "succeeded", "skipped"]
    assert f"runs at most every {interval:g}s" in (runs[2].error_message or "")
