"""Each scheduler job does its real work, due on a simulated clock, against the real services.

The services (collector, executor, export service, strategy engine) are the real apps sharing one
set of resources, reached over HTTP through ASGI transports instead of sockets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select

from trader.adapters.backups.catalog import list_backups
from trader.adapters.backups.database import create_backup
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.jobs import JobRun, JobRunStore
from trader.adapters.db.stores.market_data import MarketDataStore, WatchlistStore
from trader.adapters.db.stores.models import ModelRegistryStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.strategies import StrategyConfig, StrategyConfigStore
from trader.adapters.db.tables import audit_logs, export_jobs, market_data, signals
from trader.adapters.leader import SoleLeader
from trader.core.market import Bar, Timeframe
from trader.ml.registry import decide_promotion
from trader.ml.retraining import scores
from trader.runtime.bootstrap import open_resources
from trader.services.common.notifications import dispatcher_from_settings
from trader.services.common.resources import Resources
from trader.services.data_collector.app import create_app as collector_app
from trader.services.export_service.app import create_app as export_app
from trader.services.scheduler.jobs import build_jobs
from trader.services.scheduler.retention import bars_to_keep
from trader.services.scheduler.runner import Scheduler
from trader.services.strategy_engine.app import create_app as strategy_app
from trader.services.trade_executor.app import create_app as executor_app
from trader.settings import Settings

TOKEN = "scheduler-jobs-test-token-" + "z" * 20
HOSTS = {
    "data_collector": "http://data-collector",
    "trade_executor": "http://trade-executor",
    "export_service": "http://export-service",
    "strategy_engine": "http://strategy-engine",
}
# Friday 2024-03-08 closes at 21:00 UTC; Saturday 2024-03-09 11:00 UTC is 06:00 in New York.
FRIDAY_CLOSE = datetime(2024, 3, 8, 21, 0, tzinfo=UTC)
SATURDAY_0600_ET = datetime(2024, 3, 9, 11, 0, tzinfo=UTC)
# 2010: inside the embedded sample data, which the collector serves without keys.
SAMPLE_FRIDAY_CLOSE = datetime(2010, 3, 5, 21, 0, tzinfo=UTC)


@dataclasses.dataclass
class System:
    resources: Resources
    clock: SimulatedClock
    store: JobRunStore
    settings: Settings

    async def run_when_due(self, name: str, due_at: datetime, runs: int = 1) -> JobRun:
        """Run the scheduler with this one job, move the clock to `due_at`, wait for the run."""
        job = next(job for job in build_jobs(self.resources, _dispatcher(self.resources)) if job.name == name)
        scheduler = Scheduler(
            [job], self.store, self.resources.calendar, self.clock, SoleLeader(), leader_check_seconds=0.05
        )
        before = len(await self.store.recent(name, limit=500))
        task = asyncio.create_task(scheduler.run())
        try:
            await settle(lambda: _planned(scheduler, name))
            assert scheduler.next_due_at(name) == due_at, (scheduler.next_due_at(name), due_at)
            self.clock.advance_to(due_at)
            await settle(lambda: _finished(self.store, name, before + runs), seconds=60)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        newest = (await self.store.recent(name))[0]
        assert newest.scheduled_for == due_at
        return newest


def _dispatcher(resources: Resources) -> Any:
    return dispatcher_from_settings(resources.settings, resources.http)


async def _planned(scheduler: Scheduler, name: str) -> bool:
    return scheduler.next_due_at(name) is not None


async def _finished(store: JobRunStore, name: str, expected: int) -> bool:
    runs = await store.recent(name, limit=500)
    return sum(1 for run in runs if run.finished_at is not None) >= expected


async def settle(condition: Callable[[], Any], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running_system(
    tmp_path: Path, sqlite_url: str, start: datetime, **overrides: Any
) -> AsyncIterator[System]:
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        backup_dir=tmp_path / "backups",
        export_dir=tmp_path / "exports",
        strategies_dir=tmp_path / "strategies",
        api_token=TOKEN,
        allow_unauthenticated_loopback=False,
        service_urls=HOSTS,
        scheduler_heavy_job_min_wall_seconds=0,
        **{"data_watchlist": "AAPL,MSFT", **overrides},
    )
    clock = SimulatedClock(start, speed=0)
    async with AsyncExitStack() as stack:
        yield await _start(stack, settings, clock)


async def _start(stack: AsyncExitStack, settings: Settings, clock: SimulatedClock) -> System:
    opened = await stack.enter_async_context(open_resources(settings, clock=clock))
    apps: dict[str, FastAPI] = {
        "data_collector": collector_app(opened, run_workers=False),
        "trade_executor": executor_app(opened),
        "export_service": export_app(opened),
        "strategy_engine": strategy_app(opened),
    }
    for app in apps.values():
        await stack.enter_async_context(app.router.lifespan_context(app))
    routed = httpx.AsyncClient(
        mounts={HOSTS[name]: httpx.ASGITransport(app=app) for name, app in apps.items()}
    )
    stack.push_async_callback(routed.aclose)
    resources = dataclasses.replace(opened, http=routed)
    return System(resources, clock, JobRunStore(opened.engine), settings)


async def test_collect_bars_catches_up_only_the_symbols_behind(tmp_path: Path, sqlite_url: str) -> None:
    async with running_system(tmp_path, sqlite_url, SAMPLE_FRIDAY_CLOSE) as system:
        bars = MarketDataStore(system.resources.engine)
        # The replay base timeframe is daily: the catch-up runs 15 minutes after each close.
        first = await system.run_when_due("collect_bars", SAMPLE_FRIDAY_CLOSE + timedelta(minutes=15))
        assert first.status == "succeeded", first.error_message
        assert first.details is not None
        assert first.details["behind"] == ["AAPL", "MSFT"]  # nothing stored yet
        assert first.details["stored"] > 0
        newest = {
            symbol: (await bars.bars(symbol, limit=1, newest_first=True))[0] for symbol in ("AAPL", "MSFT")
        }
        assert {bar.timestamp.date() for bar in newest.values()} == {SAMPLE_FRIDAY_CLOSE.date()}

        # The collector's own worker keeps MSFT current through Monday; only AAPL falls behind.
        monday_close = datetime(2010, 3, 8, 21, 0, tzinfo=UTC)
        system.clock.advance_to(monday_close + timedelta(minutes=1))
        collected = await system.resources.http.post(
            f"{HOSTS['data_collector']}/data/collect",
            json={"symbols": ["MSFT"]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert collected.status_code == 200, collected.text
        second = await system.run_when_due("collect_bars", monday_close + timedelta(minutes=15))
        assert second.status == "succeeded", second.error_message
        assert second.details is not None
        assert second.details["behind"] == ["AAPL"]
        assert second.details["stored"] == 1
        assert second.details["published"] == 1  # strategies evaluate the recovered bar
        latest = await bars.bars("AAPL", limit=1, newest_first=True)
        assert latest[0].timestamp.date() == monday_close.date()


async def test_reconciliation_calls_the_executor_which_answers(tmp_path: Path, sqlite_url: str) -> None:
    async with running_system(tmp_path, sqlite_url, FRIDAY_CLOSE) as system:
        run = await system.run_when_due("broker_reconciliation", FRIDAY_CLOSE + timedelta(minutes=10))
        assert run.status == "succeeded", run.error_message
        assert run.details is not None
        assert run.details["position_drifts"] == []
        assert run.details["orders_checked"] == 0
        async with system.resources.engine.connect() as connection:
            calls = (
                await connection.execute(
                    select(audit_logs.c.user_id, audit_logs.c.success, audit_logs.c.service_name).where(
                        audit_logs.c.resource == "/reconcile"
                    )
                )
            ).all()
        # The executor recorded the authenticated call (once per audit sink it writes to).
        assert calls
        assert {(row.user_id, row.success, row.service_name) for row in calls} == {
            ("api_token", True, "trade_executor")
        }


async def test_end_of_day_report_exports_the_summary_and_performance_report(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running_system(tmp_path, sqlite_url, FRIDAY_CLOSE) as system:
        run = await system.run_when_due("end_of_day_report", FRIDAY_CLOSE + timedelta(minutes=25))
        assert run.status == "succeeded", run.error_message
        assert run.details is not None
        assert run.details["day"] == "2024-03-08"
        summary_path = Path(run.details["exports"]["daily_summary"]["path"])
        report_path = Path(run.details["exports"]["performance_report"]["path"])
        assert summary_path.parent == tmp_path / "exports"
        assert json.loads(_read(summary_path))["date"] == "2024-03-08"
        assert "<html" in _read(report_path).lower()
        async with system.resources.engine.connect() as connection:
            kinds = (await connection.execute(select(export_jobs.c.kind, export_jobs.c.status))).all()
        assert sorted(kinds) == [("daily_summary", "succeeded"), ("performance_report", "succeeded")]


async def test_backup_writes_an_archive_and_prunes_old_ones(tmp_path: Path, sqlite_url: str) -> None:
    async with running_system(
        tmp_path, sqlite_url, FRIDAY_CLOSE, backup_retention_days=7, backup_keep_minimum=1
    ) as system:
        directory = tmp_path / "backups"
        long_ago = datetime.now(UTC) - timedelta(days=30)
        for days in range(2):
            await create_backup(sqlite_url, directory, now=long_ago - timedelta(days=days))
        run = await system.run_when_due("backup", FRIDAY_CLOSE + timedelta(hours=1))
        assert run.status == "succeeded", run.error_message
        assert run.details is not None
        remaining = list_backups(directory)
        assert [str(backup.archive_path) for backup in remaining] == [run.details["archive"]]
        assert remaining[0].archive_path.stat().st_size == run.details["bytes"] > 0
        assert len(run.details["pruned"]) == 2


async def test_retention_deletes_old_rows_and_keeps_recent_ones_and_bars(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running_system(tmp_path, sqlite_url, FRIDAY_CLOSE, retention_days=30) as system:
        engine = system.resources.engine
        now = FRIDAY_CLOSE
        old, recent = now - timedelta(days=45), now - timedelta(days=5)
        async with engine.begin() as connection:
            for moment, action in ((old, "old"), (recent, "recent")):
                await connection.execute(
                    insert(audit_logs).values(
                        timestamp=moment, action=action, success=True, service_name="test", severity="info"
                    )
                )
                await connection.execute(
                    insert(signals).values(
                        event_id=f"signal-{action}",
                        strategy_name="test",
                        symbol="AAPL",
                        timeframe="1day",
                        bar_timestamp=moment,
                        direction="buy",
                        strength=Decimal("0.5"),
                        price=Decimal("100"),
                        timestamp=moment,
                    )
                )
        await MarketDataStore(engine).upsert_bars([_bar("AAPL", old, 100.0)])
        # 02:30 New York on Saturday 2024-03-09 is 07:30 UTC.
        run = await system.run_when_due("data_retention", datetime(2024, 3, 9, 7, 30, tzinfo=UTC))
        assert run.status == "succeeded", run.error_message
        async with engine.connect() as connection:
            actions = (await connection.execute(select(audit_logs.c.action))).scalars().all()
            kept_signals = (await connection.execute(select(signals.c.event_id))).scalars().all()
            bars = (await connection.execute(select(func.count()).select_from(market_data))).scalar_one()
        assert "old" not in actions and "recent" in actions
        assert kept_signals == ["signal-recent"]
        assert bars == 1  # RETENTION_MARKET_DATA_DAYS=0 keeps every bar
        assert run.details is not None
        assert run.details["deleted"]["audit_logs"] >= 1
        assert run.details["deleted"]["signals"] == 1


async def test_retention_of_bars_keeps_what_the_enabled_strategies_and_models_need(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trader.retention")
    async with running_system(
        tmp_path,
        sqlite_url,
        FRIDAY_CLOSE,
        retention_market_data_days=30,
        data_watchlist="MSFT",
        model_training_max_bars=300,
    ) as system:
        engine = system.resources.engine
        configs = StrategyConfigStore(engine)
        trend = StrategyConfig(
            "trend", "sma_crossover", {"fast_window": 1, "slow_window": 2}, ["AAPL"], "1day", True, "test"
        )
        await configs.create(trend, FRIDAY_CLOSE)
        old = [FRIDAY_CLOSE - timedelta(days=60 + day) for day in range(10)]
        await MarketDataStore(engine).upsert_bars(
            [
                _bar(symbol, moment, 100.0 + index)
                for index, moment in enumerate(old)
                for symbol in ("AAPL", "IBM", "MSFT")
            ]
        )
        run = await system.run_when_due("data_retention", datetime(2024, 3, 9, 7, 30, tzinfo=UTC))
        assert run.status == "succeeded", run.error_message
        left = {symbol: await MarketDataStore(engine).bars(symbol) for symbol in ("AAPL", "IBM", "MSFT")}
    # AAPL: the strategy's lookback (3) and the bar being built, the four newest; IBM: nothing needs
    # it; MSFT: the default strategy wants 32 and model training 300, and only 10 are stored.
    assert [bar.timestamp for bar in left["AAPL"]] == sorted(old)[-4:]
    assert (len(left["IBM"]), len(left["MSFT"])) == (0, 10)
    assert run.details is not None
    assert run.details["deleted"]["market_data"] == 16
    kept = {item["symbol"]: item for item in run.details["kept_bars"]}
    assert kept["AAPL"]["rows"] == 4 and kept["AAPL"]["reasons"] == [
        "strategy trend: lookback 3 + 1 1day bars"
    ]
    # MSFT is the watchlist: models train on it (and the default configuration, seeded by the
    # strategy engine as it starts, trades it once seeded).
    assert "model training: newest 300 bars" in kept["MSFT"]["reasons"]
    assert "retention kept AAPL: kept 4 older bar(s)" in caplog.text


async def test_retention_keeps_the_bars_of_a_configuration_that_follows_the_watchlist(
    tmp_path: Path, sqlite_url: str
) -> None:
    old = [FRIDAY_CLOSE - timedelta(days=60 + day) for day in range(10)]
    async with running_system(
        tmp_path,
        sqlite_url,
        FRIDAY_CLOSE,
        retention_market_data_days=30,
        data_watchlist="MSFT",
        model_training_max_bars=300,
    ) as system:
        engine = system.resources.engine
        follows = StrategyConfig(
            "follows", "sma_crossover", {"fast_window": 1, "slow_window": 2}, ["*"], "1day", True, "test"
        )
        await StrategyConfigStore(engine).create(follows, FRIDAY_CLOSE)
        await WatchlistStore(engine).add(["KO"], "screener")  # the universe the configuration follows
        await MarketDataStore(engine).upsert_bars(
            [
                _bar(symbol, moment, 100.0 + index)
                for index, moment in enumerate(old)
                for symbol in ("KO", "JPM")
            ]
        )
        run = await system.run_when_due("data_retention", datetime(2024, 3, 9, 7, 30, tzinfo=UTC))
        assert run.status == "succeeded", run.error_message
        left = {symbol: await MarketDataStore(engine).bars(symbol) for symbol in ("KO", "JPM")}
    # KO: the configuration's lookback (3 + 1), and the retraining window of the watchlist (300).
    assert [bar.timestamp for bar in left["KO"]] == sorted(old)
    assert left["JPM"] == []
    assert run.details is not None
    kept = {item["symbol"]: item for item in run.details["kept_bars"]}
    assert "strategy follows: lookback 3 + 1 1day bars" in kept["KO"]["reasons"], run.details


async def test_a_configuration_that_follows_the_watchlist_still_needs_the_bars_of_what_it_holds(
    sqlite_url: str,
) -> None:
    # No running executor here: its reconciliation would flatten a position the simulated broker
    # does not hold. IBM left the universe but is still held: the configuration manages it until flat.
    settings = Settings(_env_file=None, database_url=sqlite_url, data_watchlist="MSFT")
    engine = create_engine(sqlite_url)
    try:
        follows = StrategyConfig(
            "follows", "sma_crossover", {"fast_window": 1, "slow_window": 2}, ["*"], "1day", True, "test"
        )
        await StrategyConfigStore(engine).create(follows, FRIDAY_CLOSE)
        await PositionStore(engine).set_from_broker("IBM", Decimal(5), Decimal(100), None, FRIDAY_CLOSE)
        keep = await bars_to_keep(engine, settings, Timeframe.parse("1min"))
    finally:
        await engine.dispose()
    # 4 sessions of 390 minutes (a 1-minute base, as live collection stores).
    assert keep["IBM"].reasons == ("strategy follows: lookback 3 + 1 1day bars = 1560 1min bars",)
    assert "JPM" not in keep


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def _bar(symbol: str, at: datetime, close: float) -> Bar:
    price = Decimal(str(round(close, 2)))
    return Bar(
        symbol=symbol,
        timeframe=Timeframe.DAY1,
        timestamp=at,
        open=price,
        high=price + Decimal("0.5"),
        low=price - Decimal("0.5"),
        close=price,
        volume=Decimal(1000),
        source="test",
    )


def predictable_bars(symbol: str, size: int, seed: int, end: datetime) -> list[Bar]:
    """Daily closes whose returns persist (AR(1), 0.5): a model can beat chance out of sample."""
    generator = np.random.default_rng(seed)
    returns = np.zeros(size)
    for index in range(1, size):
        returns[index] = 0.5 * returns[index - 1] + generator.normal(0, 0.01)
    closes = 100 * np.exp(np.cumsum(returns))
    start = end - timedelta(days=size)
    return [_bar(symbol, start + timedelta(days=index), float(closes[index])) for index in range(size)]


async def test_weekly_retraining_registers_a_candidate_and_promotes_only_a_better_one(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running_system(tmp_path, sqlite_url, SATURDAY_0600_ET - timedelta(hours=1)) as system:
        store = MarketDataStore(system.resources.engine)
        for seed, symbol in enumerate(("AAPL", "MSFT")):
            await store.upsert_bars(predictable_bars(symbol, 700, seed, FRIDAY_CLOSE))
        registry = ModelRegistryStore(system.resources.engine)

        first = await system.run_when_due("model_retraining", SATURDAY_0600_ET)
        assert first.status == "succeeded", first.error_message
        assert first.details is not None
        version = await registry.get("gradient_boosting", first.details["version"])
        assert _read_bytes(Path(version.artifact_path))
        assert version.metrics["samples"] > 0
        expected = decide_promotion(scores(version.metrics), None)
        assert expected.promote, expected.reason  # predictable data beats chance
        assert first.details["promoted"] and version.status == "active"

        # A week later (06:00 New York is 10:00 UTC after the switch to daylight saving time), the
        # same data trains the same model: it does not beat the active one.
        second = await system.run_when_due("model_retraining", datetime(2024, 3, 16, 10, 0, tzinfo=UTC))
        assert second.status == "succeeded", second.error_message
        assert second.details is not None
        assert second.details["version"] == first.details["version"] + 1
        assert not second.details["promoted"]
        statuses = {model.version: model.status for model in await registry.list("gradient_boosting")}
        assert statuses == {first.details["version"]: "active", second.details["version"]: "candidate"}
