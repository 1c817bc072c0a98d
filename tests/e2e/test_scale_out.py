"""Scale-out on PostgreSQL + Redis: one process per service, two strategy-engine workers on one
consumer group. Every published bar is evaluated (and acknowledged) by exactly one worker; a worker
killed with SIGKILL while it holds unacknowledged bars loses none of them, because the survivor
claims them once they are idle for BUS_CLAIM_STALE_MS; and the loop (signal -> decision -> order)
keeps working because every process runs on the one shared replay clock.

Evaluations are observed in two places: each worker's `strategy_evaluations_total` counter on
/metrics (summed), and the worker's "evaluated bar ... as <consumer>" record written after the
acknowledgement (LOG_LEVEL=DEBUG), which survives the SIGKILL in the shared log file.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from redis import Redis

from tests.backends import free_port, xdist_worker_index
from tests.databases import empty_database, query_rows
from tests.e2e.system import RunningSystem, add_process, start
from trader.core.events import BarClosed, decode_event

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

WATCHLIST = "JPM,XOM,JNJ,KO,PG,WMT"
GROUP = "strategy_engine"
BARS_STREAM = "stream:bars"
EVALUATED = re.compile(r"evaluated bar (\S+) (\S+) (\S+) as (\S+)$")
# Its own Redis database (other test sessions FLUSHDB theirs); TEST_REDIS_SCALE_OUT_DB moves it when
# several checkouts run the suite against one Redis at once.
SCALE_OUT_REDIS_DB = int(os.environ.get("TEST_REDIS_SCALE_OUT_DB", "13")) - xdist_worker_index()
CONSUMERS_FIRST = ("risk_manager", "trade_executor", "scheduler", "export_service", "maintenance_service")


def _consumer(process: subprocess.Popen[bytes]) -> str:
    return f"strategy_engine-{socket.gethostname()}-{process.pid}"


def _metric(url: str, name: str) -> float:
    body = httpx.get(f"{url}/metrics", timeout=5).text
    match = re.search(rf"^{name} ([0-9.e+]+)$", body, re.MULTILINE)
    assert match, f"{name} missing from {url}/metrics"
    return float(match.group(1))


def _wait_until(condition: object, timeout_seconds: float, what: str, system: RunningSystem) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout_seconds}s\n{system.output()}")


def _drained(redis: Redis, stream: str, group: str) -> bool:
    """The group has read everything on the stream and acknowledged it."""
    for info in redis.xinfo_groups(stream):
        if info["name"].decode() == group:
            return int(info["pending"]) == 0 and int(info["lag"] or 0) == 0
    return False


def _pending_of(redis: Redis, consumer: str) -> int:
    for info in redis.xinfo_consumers(BARS_STREAM, GROUP):
        if info["name"].decode() == consumer:
            return int(info["pending"])
    return 0


def _kill_while_holding_bars(redis: Redis, process: subprocess.Popen[bytes], timeout_seconds: float) -> int:
    """Freeze the worker until it is caught with bars read but not acknowledged, then SIGKILL it."""
    consumer = _consumer(process)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        os.kill(process.pid, signal.SIGSTOP)
        pending = _pending_of(redis, consumer)
        if pending:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            return pending
        os.kill(process.pid, signal.SIGCONT)
        time.sleep(0.005)
    raise AssertionError(f"{consumer} never held a pending bar within {timeout_seconds}s")


def test_two_strategy_workers_evaluate_each_bar_once_and_a_killed_one_loses_none(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    empty_database(postgres_url)
    # A database of its own on the test server: other test sessions FLUSHDB the shared one.
    redis_url = redis_url.rsplit("/", 1)[0] + f"/{SCALE_OUT_REDIS_DB}"
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    second_port = free_port()
    system = start(
        tmp_path,
        [["serve", service] for service in CONSUMERS_FIRST],
        DATABASE_URL=postgres_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="DEBUG",
        DATA_WATCHLIST=WATCHLIST,
        REPLAY_START="2010-06-01",  # the S&P 500 sample ends 2010-08-20, so the replay ends by itself
        REPLAY_SPEED="150000",
        STRATEGY_DEFAULT_PARAMETERS='{"fast_window": 2, "slow_window": 5}',
        BUS_CLAIM_STALE_MS="1000",
    )
    try:
        first = add_process(system, ["serve", "strategy_engine"])
        second = add_process(system, ["serve", "strategy_engine"], STRATEGY_ENGINE_PORT=str(second_port))
        second_url = f"http://127.0.0.1:{second_port}"
        ports_before_collector = {k: v for k, v in system.ports.items() if k != "data_collector"}
        collector_port = system.ports.pop("data_collector")
        system.wait_healthy(timeout_seconds=120)
        _wait_until(
            lambda: httpx.get(f"{second_url}/health", timeout=2).status_code == 200,
            60,
            "second strategy worker healthy",
            system,
        )
        # Both workers are in the group before the first bar is published (the group starts at "$").
        _wait_until(
            lambda: redis.exists(BARS_STREAM) and len(redis.xinfo_consumers(BARS_STREAM, GROUP)) == 2,
            30,
            "both workers in the consumer group",
            system,
        )
        add_process(system, ["serve", "data_collector"])
        system.ports = {**ports_before_collector, "data_collector": collector_port}
        system.wait_healthy(timeout_seconds=60)

        # Mid-run: bars are flowing to both workers; kill one while it holds unacknowledged bars.
        _wait_until(lambda: redis.xlen(BARS_STREAM) >= 30, 90, "30 bars published", system)
        held = _kill_while_holding_bars(redis, second, timeout_seconds=30)
        published_at_kill = redis.xlen(BARS_STREAM)

        collector_log = tmp_path / "logs" / "data_collector.log"
        _wait_until(lambda: "replay finished" in collector_log.read_text(), 120, "replay finished", system)
        published = redis.xlen(BARS_STREAM)

        _wait_until(lambda: _drained(redis, BARS_STREAM, GROUP), 60, "every bar acknowledged", system)

        # The bars that were published are the bars released after the clock started.
        stored_after_start = query_rows(
            postgres_url,
            "SELECT count(*) FROM market_data WHERE timestamp >= '2010-06-01'",
        )[0][0]
        assert isinstance(stored_after_start, int) and stored_after_start >= published

        # Exactly once: each published bar has exactly one evaluation record, over both workers.
        records = [
            match.groups()
            for line in (tmp_path / "logs" / "strategy_engine.log").read_text().splitlines()
            if (match := EVALUATED.search(line))
        ]
        per_bar = Counter((symbol, bar_at) for symbol, _timeframe, bar_at, _consumer in records)
        assert sum(per_bar.values()) == published, (len(records), published)
        assert [bar for bar, seen in per_bar.items() if seen != 1] == []
        published_bars = _published_bars(redis)
        assert set(published_bars.values()) == {1}  # the collector published each bar once
        assert set(per_bar) == set(published_bars)
        by_consumer = Counter(consumer for *_bar, consumer in records)
        assert set(by_consumer) == {_consumer(first), _consumer(second)}, by_consumer
        assert by_consumer[_consumer(second)] > 0  # the dead worker did its share before dying
        # The survivor's counter agrees with its records and took over what the dead one held.
        survivor_url = system.url("strategy_engine")
        assert _metric(survivor_url, "strategy_evaluations_total") == by_consumer[_consumer(first)]
        assert _metric(survivor_url, "strategy_bars_claimed_total") >= held
        assert published > published_at_kill  # the run went on after the kill
        print(f"SCALE published={published} at_kill={published_at_kill} held={held} by={dict(by_consumer)}")

        # The loop ran on one clock: signals once per (strategy, symbol, bar), each judged once,
        # and approved orders reached the executor.
        duplicates = query_rows(
            postgres_url,
            "SELECT strategy_name, symbol, bar_timestamp, count(*) FROM signals "
            "GROUP BY strategy_name, symbol, bar_timestamp HAVING count(*) > 1",
        )
        assert duplicates == []
        (signals,) = query_rows(postgres_url, "SELECT count(*) FROM signals WHERE direction <> 'flat'")[0]
        assert isinstance(signals, int) and signals > 0
        _wait_until(lambda: _drained(redis, "stream:signals", "risk_manager"), 30, "signals judged", system)
        _wait_until(lambda: _drained(redis, "stream:risk.decisions", "trade_executor"), 30, "orders", system)
        per_signal = query_rows(
            postgres_url, "SELECT count(*), count(DISTINCT signal_event_id) FROM risk_decisions"
        )
        assert per_signal[0][0] == per_signal[0][1]
        approved_query = "SELECT count(*) FROM risk_decisions WHERE decision = 'approved'"
        (approved,) = query_rows(postgres_url, approved_query)[0]
        assert isinstance(approved, int) and approved > 0, "the loop produced no approved order"
        # One order per approved decision: the decisions were priced on the clock the collector runs on.
        orders = query_rows(postgres_url, "SELECT count(*), count(DISTINCT risk_decision_id) FROM trades")
        assert orders == [(approved, approved)]
        print(f"SCALE signals={signals} approved={approved}")
    finally:
        system.stop()
        redis.flushdb()
        redis.close()


def _published_bars(redis: Redis) -> Counter[tuple[str, str]]:
    bars: Counter[tuple[str, str]] = Counter()
    for _message_id, fields in redis.xrange(BARS_STREAM) or []:
        assert fields is not None
        event = decode_event(fields[b"event"])
        assert isinstance(event, BarClosed)
        bars[(event.symbol, event.bar_at.isoformat())] += 1
    return bars
