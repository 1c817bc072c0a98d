"""The decisive live test (issue #14): a paper session in the production shape, against the emulators.

PostgreSQL + a Redis server of the test's own, one process per service, `BROKER=alpaca`,
`MARKET_DATA_SOURCE=alpaca` and the shipped defaults otherwise (the default daily SMA crossover on the
watchlist), plus a 1-minute strategy. Every process runs on one accelerated clock (LIVE_CLOCK_START /
LIVE_CLOCK_ANCHOR / LIVE_CLOCK_SPEED) and so do the emulators: a pacer thread here reads the same
anchored clock, moves the REST emulator's `now`, streams each minute's bar a second after it closes
(which also stores it for REST backfill, as Alpaca does), and fills open orders while the market is open.

In the middle of the session the market-data stream is down for several minutes (every handshake
refused), the trading stream is cut and refused for a while, Redis restarts (append-only file on,
as a production Redis runs), and the strategy engine is killed with SIGKILL and started again.

Then: no minute bar lost (every bar the emulator emitted is stored, with its prices, and every bar of
the session after start-up was announced once on the bus, or, if it could only be announced after
DATA_FRESHNESS_SECONDS, named in the collector's log as history), none evaluated twice (one
evaluation record per announced bar over both lives of the engine, at most one signal per strategy,
symbol and bar), no order lost or duplicated (client order ids unique, the emulator's orders are
ours, one per approved decision), the daily strategy trades at the close (a market order accepted
for the next open), and the books (positions, cash from our fills) equal the emulator's. Last,
`trader backtest --through-risk --data database` over the session's stored bars places the daily
strategy's order with the live order's client order id.

About 95 s on a 2-core machine (12-30 s of it the start-up).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from redis import Redis

from tests.backends import free_port, unavailable
from tests.databases import empty_database, query_rows
from tests.e2e.system import RunningSystem, add_process, start
from tests.emulators.alpaca import AlpacaEmulator, DataBar, paper_account_settings
from tests.emulators.alpaca_data_stream import AlpacaDataStreamEmulator
from tests.emulators.server import EmulatorServer
from trader.adapters.clock import anchored_clock
from trader.core.events import BarClosed, decode_event

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

NEW_YORK = ZoneInfo("America/New_York")
SESSION = date(2024, 6, 12)  # a Wednesday, regular hours (09:30-16:00 New York)
SYMBOLS = {"AAPL": Decimal(1), "MSFT": Decimal(2)}  # price scale per symbol
# The 1-minute strategy trades one of them; the other is left to the default daily strategy, which
# then buys it at the close (a symbol the 1-minute strategy holds is at its target already).
MINUTE_SYMBOL = "MSFT"
HISTORY_SESSIONS = 40
SPEED = 30.0
MINUTE = timedelta(minutes=1)
EVALUATED = re.compile(r"evaluated bar (\S+) (\S+) (\S+) as (\S+)$")
CONSUMER_GROUPS_TO_DRAIN = (
    ("stream:bars", "strategy_engine"),
    ("stream:signals", "risk_manager"),
    ("stream:risk.decisions", "trade_executor"),
)


def _ny(hour: int, minute: int, second: int = 0, day: date = SESSION) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=NEW_YORK).astimezone(UTC)


OPEN_AT = _ny(9, 30)
CLOSE_AT = _ny(16, 0)
# The clock reads START when the services are expected to be up; every step after is in simulated time.
START = _ny(15, 22)
STARTUP_WALL_SECONDS = 10.0
# The start-up takes 5-50 s of wall time on a busy 2-core machine (up to 25 minutes of this clock).
READY_BY = _ny(15, 46)
# After the start-up, from the next minute on: the engine first (a bar it held unacknowledged is
# claimed by its successor BUS_CLAIM_STALE_MS later: 60 s of wall time, half an hour here), then the
# market-data stream down for four minutes, the trading stream for two, and Redis restarted.
ENGINE_KILL_AFTER = timedelta(minutes=0)
DATA_CUT_AFTER = (timedelta(minutes=1), timedelta(minutes=5))
TRADING_CUT_AFTER = (timedelta(minutes=6), timedelta(minutes=8))
# Redis restarts between two minutes' bars (a restart at the very moment a minute's bars are published
# leaves an XADD or an XACK whose reply is lost: see the report of issue #14's test).
REDIS_RESTART_AFTER = timedelta(minutes=9, seconds=30)


# ---------------------------------------------------------------- prices


def _history_sessions() -> list[date]:
    import exchange_calendars as xcals

    calendar = xcals.get_calendar("XNYS")
    sessions = calendar.sessions_in_range(SESSION - timedelta(days=HISTORY_SESSIONS * 2), SESSION)
    days = [session.date() for session in sessions if session.date() < SESSION]
    return days[-HISTORY_SESSIONS:]


def _daily_close(index_from_end: int) -> Decimal:
    """Closes of the sessions before SESSION (1 = yesterday): flat at 100, then nine a little lower, so the
    fast SMA (10) lies under the slow one (30) and today's rise (to ~106) crosses it at the close."""
    return Decimal("99.5") if index_from_end <= 9 else Decimal(100)


def _minute_close(minute_index: int) -> Decimal:
    """Today's minute closes: a rise from 99.5 to 106 with a 12-minute wave the 1-minute strategy trades."""
    trend = 99.5 + 6.5 * minute_index / 389
    wave = 0.6 * math.sin(2 * math.pi * minute_index / 12)
    return Decimal(f"{trend + wave:.2f}")


def _bar(at: datetime, open_: Decimal, close: Decimal, scale: Decimal, volume: int) -> DataBar:
    o, c = open_ * scale, close * scale
    return DataBar(
        at=at,
        open=o,
        high=max(o, c) + Decimal("0.05"),
        low=min(o, c) - Decimal("0.05"),
        close=c,
        volume=volume,
        trade_count=10,
        vwap=((o + c) / 2).quantize(Decimal("0.0001")),
    )


def _history_bars(scale: Decimal) -> list[DataBar]:
    """A few minute bars per past session (a thin stock trades rarely): enough for daily closes."""
    days = _history_sessions()
    rows = []
    for position, day in enumerate(days):
        close = _daily_close(len(days) - position)
        for hour, minute in ((9, 30), (12, 0), (15, 59)):
            rows.append(_bar(_ny(hour, minute, day=day), close, close, scale, 500))
    return rows


def _today_bar(minute_index: int, scale: Decimal) -> DataBar:
    previous = _minute_close(minute_index - 1) if minute_index else Decimal("99.5")
    return _bar(
        OPEN_AT + minute_index * MINUTE, previous, _minute_close(minute_index), scale, 1000 + minute_index
    )


# ---------------------------------------------------------------- the emulators on the shared clock


class Pacer(threading.Thread):
    """Moves the emulators along the shared clock: the REST `now`, each minute's bar streamed (and
    stored for REST) one second after it closes, and open orders filled while the market is open."""

    def __init__(self, clock: Any, rest: AlpacaEmulator, stream: AlpacaDataStreamEmulator) -> None:
        super().__init__(name="session-pacer", daemon=True)
        self.clock = clock
        self.rest = rest
        self.stream = stream
        self.stopping = threading.Event()
        self.emitted: list[tuple[str, datetime]] = []
        self.next_index = 0
        self.error: BaseException | None = None

    def catch_up(self, now: datetime, *, stream: bool) -> None:
        while (
            self.next_index < 390 and OPEN_AT + (self.next_index + 1) * MINUTE + timedelta(seconds=1) <= now
        ):
            bars = [(symbol, _today_bar(self.next_index, scale)) for symbol, scale in SYMBOLS.items()]
            for symbol, bar in bars:
                self.rest.set_price(symbol, bar.close)
            if stream:
                self.stream.emit_bars(bars)
            else:
                for symbol, bar in bars:
                    self.rest.seed_bars(symbol, "1Min", [bar])
            self.emitted.extend((symbol, bar.at) for symbol, bar in bars)
            self.next_index += 1

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                now = self.clock.now()
                self.rest.set_now(now)
                self.catch_up(now, stream=True)
                if OPEN_AT <= now < CLOSE_AT:
                    self.rest.fill_pending()
                time.sleep(0.02)
        except BaseException as error:  # surfaced by the test
            self.error = error
            raise


# ---------------------------------------------------------------- helpers


def _wait_until(
    condition: Callable[[], bool], timeout_seconds: float, what: str, system: RunningSystem
) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout_seconds}s\n{system.output()}")


def _sleep_until(clock: Any, moment: datetime, pacer: Pacer) -> None:
    wall = (moment - clock.now()).total_seconds() / SPEED
    deadline = time.monotonic() + max(wall, 0) + 5
    while clock.now() < moment and time.monotonic() < deadline:
        assert pacer.error is None, pacer.error
        time.sleep(0.02)


class DedicatedRedis:
    """A redis-server of the test's own on a free loopback port, with the append-only file a production
    Redis keeps (so a restart keeps the streams and the consumer groups)."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("redis-server") is None:
            unavailable("redis-server is not installed (this test restarts a Redis of its own)")
        self.port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise AssertionError("the dedicated redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


def _kill_while_holding_bars(redis: Redis, process: subprocess.Popen[bytes], timeout_seconds: float) -> int:
    """SIGKILL the engine, caught if it can be (within the deadline) with bars read but not acknowledged."""
    consumer = f"strategy_engine-{socket.gethostname()}-{process.pid}"
    deadline = time.monotonic() + timeout_seconds
    pending = 0
    while time.monotonic() < deadline:
        os.kill(process.pid, signal.SIGSTOP)
        infos = redis.xinfo_consumers("stream:bars", "strategy_engine")
        pending = sum(int(i["pending"]) for i in infos if i["name"].decode() == consumer)
        if pending:
            break
        os.kill(process.pid, signal.SIGCONT)
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    return pending


def _drained(redis: Redis, stream: str, group: str) -> bool:
    try:
        for info in redis.xinfo_groups(stream):
            if info["name"].decode() == group:
                return int(info["pending"]) == 0 and int(info["lag"] or 0) == 0
    except Exception:
        return False
    return False


def _published(redis: Redis) -> Counter[tuple[str, str, datetime]]:
    bars: Counter[tuple[str, str, datetime]] = Counter()
    for _message_id, fields in redis.xrange("stream:bars") or []:
        assert fields is not None
        event = decode_event(fields[b"event"])
        if isinstance(event, BarClosed):
            bars[(event.symbol, event.timeframe.value, event.bar_at)] += 1
    return bars


# ---------------------------------------------------------------- the session


def test_a_paper_session_streams_trades_and_survives_its_faults(tmp_path: Path, postgres_url: str) -> None:
    empty_database(postgres_url)
    redis_server = DedicatedRedis(tmp_path / "redis")
    redis_server.start()
    anchor = time.time() + STARTUP_WALL_SECONDS
    clock = anchored_clock(START, anchor, SPEED)

    rest = AlpacaEmulator(now=clock.now())
    stream = AlpacaDataStreamEmulator(rest)
    for symbol, scale in SYMBOLS.items():
        rest.set_price(symbol, Decimal("99.5") * scale)
        rest.seed_bars(symbol, "1Min", _history_bars(scale))
    pacer = Pacer(clock, rest, stream)
    pacer.catch_up(clock.now(), stream=False)  # the day so far, for REST

    rest_server = EmulatorServer(rest.app)
    stream_server = EmulatorServer(stream.app)
    rest_server.start()
    stream_server.start()
    pacer.start()
    redis = Redis.from_url(redis_server.url, socket_timeout=5)
    system: RunningSystem | None = None
    started = time.monotonic()
    try:
        system = start(
            tmp_path,
            [],
            DATABASE_URL=postgres_url,
            REDIS_URL=redis_server.url,
            LOG_LEVEL="DEBUG",
            **paper_account_settings(rest, rest_server, stream_server),
            DATA_WATCHLIST=",".join(SYMBOLS),
            LIVE_CLOCK_START=START.isoformat(),
            LIVE_CLOCK_ANCHOR=f"{anchor:.6f}",
            LIVE_CLOCK_SPEED=str(SPEED),
        )
        for service in (
            "risk_manager",
            "trade_executor",
            "scheduler",
            "export_service",
            "maintenance_service",
        ):
            add_process(system, ["serve", service])
        engine_process = add_process(system, ["serve", "strategy_engine"])
        add_process(system, ["serve", "data_collector"])
        system.wait_healthy(timeout_seconds=90)
        healthy_at = clock.now()

        # The history the default daily strategy needs, as a user collects it, and a 1-minute strategy.
        first_day = _history_sessions()[0]
        collected = httpx.post(
            f"{system.url('data_collector')}/data/collect",
            json={"start": _ny(9, 30, day=first_day).isoformat(), "background": False, "force": True},
            timeout=60,
        )
        assert collected.status_code == 200, collected.text
        print(f"LIVE collected {collected.json()}")
        created = httpx.post(
            f"{system.url('strategy_engine')}/strategies",
            json={
                "name": "minute",
                "strategy_type": "sma_crossover",
                "parameters": {"fast_window": 2, "slow_window": 5},
                "symbols": [MINUTE_SYMBOL],
                "timeframe": "1min",
                "enabled": True,
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
        ready_at = clock.now()
        assert ready_at < READY_BY, f"start-up too slow: ready at {ready_at} (healthy at {healthy_at})"
        startup_wall = time.monotonic() - started
        base = ready_at.replace(second=0, microsecond=0) + MINUTE

        # The faults, each at its simulated time.
        _sleep_until(clock, base + ENGINE_KILL_AFTER, pacer)
        held = _kill_while_holding_bars(redis, engine_process, timeout_seconds=15)
        system.processes.remove(engine_process)
        add_process(system, ["serve", "strategy_engine"])

        _sleep_until(clock, base + DATA_CUT_AFTER[0], pacer)
        stream.refuse_handshakes_with = 503
        stream.drop_connections()
        _sleep_until(clock, base + DATA_CUT_AFTER[1], pacer)
        stream.refuse_handshakes_with = None

        _sleep_until(clock, base + TRADING_CUT_AFTER[0], pacer)
        rest.stream.refuse_handshakes_with = 503
        rest.stream.drop()
        _sleep_until(clock, base + TRADING_CUT_AFTER[1], pacer)
        rest.stream.refuse_handshakes_with = None

        _sleep_until(clock, base + REDIS_RESTART_AFTER, pacer)
        redis.close()
        redis_server.stop()
        time.sleep(2.0)
        redis_server.start()
        redis = Redis.from_url(redis_server.url, socket_timeout=5)

        # The close: the daily bar is announced and the default strategy trades on it.
        _sleep_until(clock, CLOSE_AT + 2 * MINUTE, pacer)
        _wait_until(
            lambda: bool(query_rows(postgres_url, "SELECT 1 FROM trades WHERE strategy_name = 'default'")),
            60,
            "the default daily strategy's order at the close",
            system,
        )
        for stream_name, group in CONSUMER_GROUPS_TO_DRAIN:
            _wait_until(partial(_drained, redis, stream_name, group), 90, f"{stream_name} drained", system)
        pacer.stopping.set()
        pacer.join(timeout=5)
        assert pacer.error is None, pacer.error
        session_wall = time.monotonic() - started

        _check_bars(postgres_url, redis, pacer, ready_at, base + REDIS_RESTART_AFTER, tmp_path)
        _check_orders(postgres_url, rest, rest_server.base_url)
        _check_books(postgres_url, rest, system)
        _check_backtest_matches(postgres_url, tmp_path, system)
        print(f"LIVE engine killed holding {held} bars")
        print(f"LIVE startup={startup_wall:.1f}s session={session_wall:.1f}s ready_at={ready_at.isoformat()}")
    finally:
        pacer.stopping.set()
        if system is not None:
            system.stop()
        redis.close()
        redis_server.stop()
        stream_server.stop()
        rest_server.stop()


def _check_bars(
    url: str, redis: Redis, pacer: Pacer, ready_at: datetime, redis_restarted_at: datetime, workdir: Path
) -> None:
    # Every bar the emulator emitted is stored once, with its prices.
    stored = {
        (symbol, at): close
        for symbol, at, close in query_rows(
            url,
            "SELECT symbol, timestamp, close_price FROM market_data "
            f"WHERE timestamp >= '{OPEN_AT.isoformat()}'",
        )
    }
    missing = [(symbol, at) for symbol, at in pacer.emitted if (symbol, at) not in stored]
    assert missing == [], f"{len(missing)} emitted bars never stored: {missing[:10]}"
    for symbol, at in pacer.emitted:
        index = int((at - OPEN_AT) / MINUTE)
        assert stored[(symbol, at)] == _today_bar(index, SYMBOLS[symbol]).close

    # Every minute bar of the session after start-up was announced exactly once, or, when it could be
    # announced only after DATA_FRESHNESS_SECONDS (Redis down), logged by name as history; never both.
    published = _published(redis)
    assert [key for key, seen in published.items() if seen != 1] == []
    first_live = ready_at.replace(second=0, microsecond=0) + MINUTE
    expected = {(symbol, at) for symbol, at in pacer.emitted if first_live <= at < CLOSE_AT}
    announced = {(symbol, at) for symbol, timeframe, at in published if timeframe == "1min"}
    history = _history_minutes(workdir / "logs" / "data_collector.log", expected)
    # A bar whose XADD reached Redis as it shut down (the reply lost: "ConnectionError while reading
    # response") is on the bus, yet the collector, told the publication failed, later passes it as
    # history: its log says "not announced". Only the bars closing around the restart may be both.
    both = announced & history
    assert all(abs(at + MINUTE - redis_restarted_at) <= 3 * MINUTE for _symbol, at in both), sorted(both)
    unaccounted = sorted(expected - announced - history)
    assert unaccounted == [], (
        f"{len(unaccounted)} minute bars neither announced nor history: {unaccounted[:10]}"
    )
    print(
        f"LIVE minute bars after start-up: {len(expected)}, "
        f"announced {len(expected & announced)}, history {len(history)}, both {len(both)}"
    )
    daily = {key for key in published if key[1] == "1day"}
    assert sorted((symbol, at.astimezone(NEW_YORK).date()) for symbol, _tf, at in daily) == [
        (symbol, SESSION) for symbol in sorted(SYMBOLS)
    ], daily

    # Each announced bar evaluated once (over the engine's two lives), one signal per strategy and bar.
    records = [
        match.groups()
        for line in (workdir / "logs" / "strategy_engine.log").read_text().splitlines()
        if (match := EVALUATED.search(line))
    ]
    per_bar = Counter((symbol, timeframe, bar_at) for symbol, timeframe, bar_at, _consumer in records)
    assert [bar for bar, seen in per_bar.items() if seen != 1] == []
    assert {(s, tf, datetime.fromisoformat(at)) for s, tf, at in per_bar} == set(published)
    duplicates = query_rows(
        url,
        "SELECT strategy_name, symbol, bar_timestamp, count(*) FROM signals "
        "GROUP BY strategy_name, symbol, bar_timestamp HAVING count(*) > 1",
    )
    assert duplicates == []


HISTORY = re.compile(r"history: (\S+) 1min: \d+ bars (\S+)\.\.(\S+) not announced")


def _history_minutes(log: Path, bars: set[tuple[str, datetime]]) -> set[tuple[str, datetime]]:
    """The bars among `bars` the collector logged as history (not announced: they closed too long ago)."""
    passed: set[tuple[str, datetime]] = set()
    for match in HISTORY.finditer(log.read_text()):
        symbol, first, last = (
            match.group(1),
            datetime.fromisoformat(match.group(2)),
            datetime.fromisoformat(match.group(3)),
        )
        passed |= {(s, at) for s, at in bars if s == symbol and first <= at <= last}
    return passed


def _check_orders(url: str, rest: AlpacaEmulator, base_url: str) -> None:
    ours = query_rows(
        url,
        "SELECT client_order_id, broker_order_id, symbol, side, quantity, status, strategy_name FROM trades",
    )
    assert ours, "no order at all"
    client_ids = [row[0] for row in ours]
    assert len(client_ids) == len(set(client_ids))
    response = httpx.get(
        f"{base_url}/v2/orders",
        params={"status": "all", "limit": 500},
        headers={"APCA-API-KEY-ID": rest.api_key, "APCA-API-SECRET-KEY": rest.secret_key},
    )
    theirs = {order["client_order_id"]: order for order in response.json()}
    assert set(theirs) == {row[0] for row in ours if row[1] is not None}
    assert all(row[1] is not None for row in ours), [row for row in ours if row[1] is None]
    for client_id, broker_id, symbol, side, quantity, _status, _strategy in ours:
        order = theirs[client_id]
        assert (order["id"], order["symbol"], order["side"], Decimal(order["qty"])) == (
            broker_id,
            symbol,
            side,
            quantity,
        )
    decisions = query_rows(url, "SELECT count(*), count(DISTINCT signal_event_id) FROM risk_decisions")
    assert decisions[0][0] == decisions[0][1]
    approved = query_rows(url, "SELECT count(*) FROM risk_decisions WHERE decision = 'approved'")[0][0]
    per_decision = query_rows(url, "SELECT count(*), count(DISTINCT risk_decision_id) FROM trades")
    assert per_decision == [(approved, approved)]
    # The default daily strategy traded on the daily bar announced at the close: a market order for the
    # next open, accepted (not filled) by the broker; the 1-minute strategy's symbol is at its target.
    daily_orders = [row for row in ours if row[6] == "default"]
    assert [(row[2], theirs[row[0]]["status"]) for row in daily_orders] == [("AAPL", "accepted")], (
        daily_orders
    )
    placed = query_rows(url, "SELECT min(timestamp) FROM trades WHERE strategy_name = 'default'")[0][0]
    assert placed >= CLOSE_AT, placed
    strategies = Counter(row[6] for row in ours)
    assert strategies["minute"] > 0 and strategies["default"] > 0, strategies
    print(f"LIVE orders={len(ours)} by strategy={dict(strategies)}")


def _check_books(url: str, rest: AlpacaEmulator, system: RunningSystem) -> None:
    positions = {
        symbol: quantity
        for symbol, quantity in query_rows(url, "SELECT symbol, quantity FROM positions")
        if quantity
    }
    theirs = {symbol: rest.position_qty(symbol) for symbol in SYMBOLS}
    assert positions == {symbol: qty for symbol, qty in theirs.items() if qty}
    fills = query_rows(url, "SELECT side, quantity, price, commission FROM fills")
    assert fills, "no fill"
    cash = Decimal(100_000)
    for side, quantity, price, commission in fills:
        cash += (-quantity * price if side == "buy" else quantity * price) - commission
    assert cash == rest.cash


def _check_backtest_matches(url: str, workdir: Path, system: RunningSystem) -> None:
    """`trader backtest --through-risk --data database` over the session's stored bars places the
    daily strategy's order of the live session: the same client order id (strategy, symbol, bar,
    intent), side and, sized on an equity that differs only by the 1-minute strategy's result, the
    same quantity within 1%. (The 1-minute strategy's symbol is left out: through-risk replays one
    daily strategy, and live that symbol was already at its target.)"""
    daily_symbol = next(symbol for symbol in SYMBOLS if symbol != MINUTE_SYMBOL)
    out = workdir / "through_risk.json"
    environment = {
        **system.environment,
        "BROKER": "simulated",
        "SIMULATED_FRACTIONABLE": "true",  # as the emulator's assets (Alpaca says per asset)
        "MARKET_DATA_SOURCE": "alpaca",
        "DATABASE_URL": url,
        "REDIS_URL": "",
        "LIVE_CLOCK_START": "",
        "LIVE_CLOCK_ANCHOR": "",
    }
    for key in ("LIVE_CLOCK_START", "LIVE_CLOCK_ANCHOR"):
        environment.pop(key)
    started = time.monotonic()
    completed = subprocess.run(
        [
            sys.executable, "-m", "trader.cli", "backtest", "sma_crossover", "--through-risk",
            "--data", "database", "--symbols", daily_symbol,
            "--start", _history_sessions()[0].isoformat(), "--end", (SESSION + timedelta(days=1)).isoformat(),
            "--history-until", OPEN_AT.isoformat(), "--json", str(out),
        ],
        cwd=workdir, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    import json

    result = json.loads(out.read_text())
    backtest = [
        (order["client_order_id"], order["symbol"], order["side"], Decimal(order["quantity"]))
        for order in result["orders"]
        if order["decision"] == "approved"
    ]
    live = [
        (client_id, symbol, side, quantity)
        for client_id, symbol, side, quantity in query_rows(
            url, "SELECT client_order_id, symbol, side, quantity FROM trades WHERE strategy_name = 'default'"
        )
    ]
    assert [order[:3] for order in backtest] == [order[:3] for order in live], (backtest, live)
    for (_, _, _, ours), (_, _, _, theirs) in zip(backtest, live, strict=True):
        assert abs(ours - theirs) <= theirs / 100, (ours, theirs)
    print(f"LIVE through-risk backtest {time.monotonic() - started:.1f}s: {backtest} vs live {live}")
