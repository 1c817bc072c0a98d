"""Bar close at the broker -> order POST at the broker: the streamed live path beside REST polling.

`python -m bench.live [--symbols 500] [--minutes 3] [--startup 45] [--path stream|polling|both]`

The production shape against the emulators, on PostgreSQL + a redis-server of the benchmark's own:
`trader serve data_collector | strategy_engine | risk_manager | trade_executor`, one process each,
`BROKER=alpaca`, `MARKET_DATA_SOURCE=alpaca`, alpaca-py against the REST emulator and the
market-data websocket emulator (tests/emulators), on a real-time clock (LIVE_CLOCK_SPEED=1, so the
settle and freshness delays are the production ones) that starts at 10:00 New York on a session day.

Workload: N symbols (the S&P 500 names of the sample sector map, then made-up ones), a minute bar
each per minute whose closes follow a 6-minute wave shifted per symbol, and the default strategy
configured as a 1-minute SMA(2)/SMA(3) crossover on the watchlist, so about a third of the symbols
cross every minute (buys, and sells of what was bought). The risk limits are loosened as in
`bench.pipeline --busy` so that crossings become orders; the emulator fills open orders at once.

- stream: the emulator pushes every minute's bars over the data websocket the moment they close;
- polling: DATA_STREAM_ENABLED=false, today's fallback: the collector asks REST for every symbol
  DATA_BAR_SETTLE_SECONDS (5 s) after each close; the bars are on the REST emulator at the close.

The emulator stamps the wall time of each minute's publication and of every order POST it receives;
an order is traced to its bar by the signal time in its client order id, and its latency is
POST time - publication time. Measured: the bars of the first `--minutes` minutes after 10:00.
Both paths must place the same orders (client order id, symbol, side) on those bars; the process
exits non-zero when they do not. Goal: the stream's p99 under 250 ms.

Measured (2-core machine, the test suite running beside it; 500 symbols, 3 minutes, 417 orders on
both paths, the same ones): stream p50 2095 ms, p99 2817 ms (goal NOT met); polling p50 25452 ms,
p99 52303 ms. Where the stream's time goes, per minute (last log line after the publication):
signals 0.34-0.43 s, risk decisions 0.93-1.06 s, order POSTs 1.8-2.9 s: the executor submits a
minute's ~166 orders one after another (~10 ms each through alpaca-py), the first only once the
risk manager has judged the whole batch.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from redis import Redis
from starlette.requests import Request
from starlette.responses import Response

from bench.common import chosen_universe, percentile
from tests.backends import free_port
from tests.e2e.system import RunningSystem, start
from tests.emulators.alpaca import AlpacaEmulator, DataBar, paper_account_settings
from tests.emulators.alpaca_data_stream import AlpacaDataStreamEmulator
from tests.emulators.server import EmulatorServer
from trader.adapters.clock import anchored_clock
from trader.adapters.db.migrate import upgrade_database
from trader.adapters.db.provision import drop_database, provision_database

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NEW_YORK = ZoneInfo("America/New_York")
SESSION = date(2024, 6, 12)  # a Wednesday, regular hours
OPEN_AT = datetime(2024, 6, 12, 9, 30, tzinfo=NEW_YORK).astimezone(UTC)
START = datetime(2024, 6, 12, 10, 0, tzinfo=NEW_YORK).astimezone(UTC)
MINUTE = timedelta(minutes=1)
SERVICES = ("risk_manager", "trade_executor", "strategy_engine", "data_collector")
GOAL_SECONDS = 0.250
WAVE_MINUTES = 6
BUSY_LIMITS = {
    "RISK_MAX_OPEN_POSITIONS": "500",
    "RISK_SIGNAL_COOLDOWN_SECONDS": "0",
    "RISK_MAX_TRADES_PER_DAY": "10000",
}


@dataclass
class Result:
    path: str
    symbols: int
    minutes: int
    latencies: list[float] = field(default_factory=list)
    orders: dict[str, tuple[str, str]] = field(default_factory=dict)  # client id -> (symbol, side)
    unmatched: int = 0  # POSTs traced to no measured bar (warm-up minutes, or after the window)
    startup_seconds: float = 0.0
    # Stage -> seconds from each measured bar's publication to the last such log line of its minute.
    stages: dict[str, list[float]] = field(default_factory=dict)


def minute_close(symbol_index: int, minute_index: int) -> Decimal:
    wave = math.sin(2 * math.pi * (minute_index + symbol_index) / WAVE_MINUTES)
    return Decimal(f"{100 + 0.15 * wave:.2f}")  # ~40% a year: under the risk manager's cap


def minute_bar(symbol_index: int, minute_index: int) -> DataBar:
    close = minute_close(symbol_index, minute_index)
    open_ = minute_close(symbol_index, minute_index - 1) if minute_index else Decimal(100)
    return DataBar(
        at=OPEN_AT + minute_index * MINUTE,
        open=open_,
        high=max(open_, close) + Decimal("0.05"),
        low=min(open_, close) - Decimal("0.05"),
        close=close,
        volume=1000 + minute_index,
        trade_count=10,
        vwap=((open_ + close) / 2).quantize(Decimal("0.0001")),
    )


class StampingAlpaca(AlpacaEmulator):
    """The REST emulator, stamping the wall time of every order POST it receives."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.posts: list[tuple[float, dict[str, Any]]] = []

    async def _submit_order(self, request: Request) -> Response:
        received = time.time()
        try:
            payload = await request.json()  # cached by Starlette for the handler
        except ValueError:
            payload = {}
        self.posts.append((received, payload if isinstance(payload, dict) else {}))
        return await super()._submit_order(request)


class Pacer(threading.Thread):
    """On the shared clock: the REST `now`, each minute's bars published the moment they close
    (streamed, which stores them for REST too, or only stored for REST), their publication's wall
    time noted, and open orders filled."""

    def __init__(
        self, clock: Any, rest: StampingAlpaca, stream: AlpacaDataStreamEmulator | None, symbols: list[str]
    ) -> None:
        super().__init__(name="bench-pacer", daemon=True)
        self.clock = clock
        self.rest = rest
        self.stream = stream
        self.symbols = symbols
        self.stopping = threading.Event()
        self.published: dict[datetime, float] = {}  # bar start -> wall time of its publication
        self.next_index = 0
        self.error: BaseException | None = None

    def catch_up(self, now: datetime, *, live: bool) -> None:
        while self.next_index < 390 and OPEN_AT + (self.next_index + 1) * MINUTE <= now:
            index = self.next_index
            bars = [(symbol, minute_bar(position, index)) for position, symbol in enumerate(self.symbols)]
            for symbol, bar in bars:
                self.rest.set_price(symbol, bar.close)
            stamped = time.time()
            if live and self.stream is not None:
                self.stream.emit_bars(bars)
            else:
                for symbol, bar in bars:
                    self.rest.seed_bars(symbol, "1Min", [bar])
            if live:
                self.published[OPEN_AT + index * MINUTE] = stamped
            self.next_index += 1

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                now = self.clock.now()
                self.rest.set_now(now)
                self.catch_up(now, live=True)
                self.rest.fill_pending()
                time.sleep(0.002)
        except BaseException as error:
            self.error = error
            raise


class DedicatedRedis:
    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server is not installed")
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except Exception:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the benchmark's redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def serve(system: RunningSystem, service: str) -> None:
    """`trader serve <service>`, its output kept beside the logs (a refusal to start is printed there)."""
    with (system.workdir / f"{service}.out").open("wb") as output:
        system.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "trader.cli", "serve", service],
                cwd=system.workdir,
                env=system.environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        )


def wait_healthy(system: RunningSystem, deadline: float) -> None:
    while time.monotonic() < deadline:
        for process in system.processes:
            if process.poll() is not None:
                outputs = "".join(path.read_text()[-2000:] for path in sorted(system.workdir.glob("*.out")))
                raise RuntimeError(f"a service exited with {process.returncode}\n{outputs}")
        codes = []
        for service in SERVICES:
            try:
                codes.append(httpx.get(f"{system.url(service)}/health", timeout=2).status_code)
            except httpx.HTTPError:
                codes.append(0)
        if all(code == 200 for code in codes):
            return
        time.sleep(0.25)
    raise RuntimeError(f"the services are not healthy in time\n{system.output()}")


def signal_time(client_order_id: str) -> datetime | None:
    """The signal time in `<strategy>-<symbol>-<yyyymmddThhmmss>-<intent>-<hash>`."""
    for part in client_order_id.split("-"):
        if len(part) == 15 and part[8:9].upper() == "T" and part.replace("T", "").replace("t", "").isdigit():
            return datetime.strptime(part.upper(), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return None


def run_path(path: str, universe: dict[str, str], minutes: int, startup: float, workdir: Path) -> Result:
    symbols = list(universe)
    result = Result(path, len(symbols), minutes)
    workdir.mkdir(parents=True, exist_ok=True)
    sector_map = workdir / "sector_map.csv"
    sector_map.write_text(
        "symbol,sector\n" + "".join(f'{symbol},"{sector}"\n' for symbol, sector in universe.items()),
        encoding="utf-8",
    )
    name = f"trading_system_bench_live_{uuid.uuid4().hex[:8]}"
    asyncio.run(provision_database(POSTGRES_ADMIN_URL, database=name, role="trader"))
    database_url = f"postgresql+asyncpg://trader@127.0.0.1:5432/{name}"
    upgrade_database(database_url)  # once, before the services start (each would race to migrate)
    redis_server = DedicatedRedis()
    launched = time.monotonic()
    anchor = time.time() + startup
    clock = anchored_clock(START, anchor, 1.0)
    rest = StampingAlpaca(now=clock.now(), cash=Decimal(10_000_000))  # orders of ~10k (0.1%)
    stream = AlpacaDataStreamEmulator(rest) if path == "stream" else None
    for symbol in symbols:
        rest.set_price(symbol, Decimal(100))
    pacer = Pacer(clock, rest, stream, symbols)
    pacer.catch_up(clock.now(), live=False)  # the session so far, on REST
    rest_server = EmulatorServer(rest.app)
    stream_server = EmulatorServer(stream.app) if stream is not None else None
    rest_server.start()
    if stream_server is not None:
        stream_server.start()
    pacer.start()
    system: RunningSystem | None = None
    measured = {START + index * MINUTE for index in range(minutes)}
    try:
        system = start(
            workdir,
            [],
            DATABASE_URL=database_url,
            REDIS_URL=redis_server.url,
            LOG_LEVEL="INFO",
            **paper_account_settings(rest, rest_server, stream_server),
            DATA_WATCHLIST=",".join(symbols),
            DATA_BASE_TIMEFRAME="1min",
            STRATEGY_DEFAULT_TYPE="sma_crossover",
            STRATEGY_DEFAULT_PARAMETERS='{"fast_window": 2, "slow_window": 3}',
            STRATEGY_DEFAULT_TIMEFRAME="1min",
            RISK_SECTOR_MAP_PATH=str(sector_map),
            RISK_SIZING_FRACTION="0.001",
            LIVE_CLOCK_START=START.isoformat(),
            LIVE_CLOCK_ANCHOR=f"{anchor:.6f}",
            LIVE_CLOCK_SPEED="1",
            **BUSY_LIMITS,
        )
        for service in SERVICES:
            serve(system, service)
        wait_healthy(system, deadline=launched + startup + 50)
        collected = httpx.post(
            f"{system.url('data_collector')}/data/collect",
            json={"start": OPEN_AT.isoformat(), "background": False, "force": True},
            timeout=120,
        )
        if collected.status_code != 200:
            raise RuntimeError(f"collecting the session so far failed: {collected.text}")
        ready = clock.now()
        result.startup_seconds = time.monotonic() - launched
        if ready >= START + MINUTE - timedelta(seconds=5):
            raise RuntimeError(
                f"start-up too slow: ready at {ready.isoformat()}, after the first measured bar's close "
                f"({(START + MINUTE).isoformat()}); give --startup more than {startup:g}s"
            )
        print(
            f"  {path}: ready {result.startup_seconds:.0f}s after launch, at {ready.isoformat()}", flush=True
        )
        # The measured bars, then as long again as the slowest path may need for their orders.
        end = START + (minutes + 1) * MINUTE
        while clock.now() < end:
            if pacer.error is not None:
                raise RuntimeError(f"the pacer failed: {pacer.error!r}")
            time.sleep(0.2)
    finally:
        pacer.stopping.set()
        pacer.join(timeout=5)
        if system is not None:
            system.stop()
        redis_server.stop()
        if stream_server is not None:
            stream_server.stop()
        rest_server.stop()
        asyncio.run(drop_database(POSTGRES_ADMIN_URL, name))
    # The signal time in a client order id is the bar's start (Bar.timestamp).
    lines = ["client_order_id,symbol,side,bar_at,published,posted,latency_ms"]
    for received, payload in rest.posts:
        client_id = str(payload.get("client_order_id") or "")
        bar_at = signal_time(client_id)
        if bar_at is None or bar_at not in measured or bar_at not in pacer.published:
            result.unmatched += 1
            continue
        latency = received - pacer.published[bar_at]
        if latency < 0:
            raise RuntimeError(f"order {client_id} was posted before its bar was published")
        result.latencies.append(latency)
        result.orders[client_id] = (str(payload.get("symbol")), str(payload.get("side")))
        lines.append(
            f"{client_id},{payload.get('symbol')},{payload.get('side')},{bar_at.isoformat()},"
            f"{pacer.published[bar_at]:.6f},{received:.6f},{latency * 1000:.1f}"
        )
    result.stages = stage_offsets(
        workdir / "logs", pacer.published, measured, [received for received, _payload in rest.posts]
    )
    (workdir / "orders.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return result


STAGES = (
    ("signals logged", "strategy_engine.log", re.compile(r" signal (buy|sell) ")),
    ("decisions logged", "risk_manager.log", re.compile(r" (approved|denied) (buy|sell) ")),
)


def log_times(path: Path, pattern: re.Pattern[str]) -> list[float]:
    """Wall times (the services log the host's local time) of the lines matching `pattern`."""
    times = []
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if pattern.search(line):
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                times.append(stamp.timestamp())
    return times


def stage_offsets(
    logs: Path, published: dict[datetime, float], measured: set[datetime], posts: list[float]
) -> dict[str, list[float]]:
    """Per measured minute: seconds from the bars' publication to the last signal, decision and POST
    logged before the next minute's publication (where the time goes, from the services' own logs)."""
    offsets: dict[str, list[float]] = {}
    sources = [(name, log_times(logs / file, pattern)) for name, file, pattern in STAGES]
    sources.append(("orders posted", posts))
    for bar_at in sorted(measured):
        if bar_at not in published:
            continue
        begin = published[bar_at]
        end = published.get(bar_at + MINUTE, begin + 60)
        for name, times in sources:
            inside = [moment for moment in times if begin <= moment < end]
            if inside:
                offsets.setdefault(name, []).append(max(inside) - begin)
    return offsets


def print_results(results: list[Result]) -> int:
    first = results[0]
    print(
        f"\n{first.symbols} symbols, a bar each per minute, {first.minutes} minutes measured; "
        "PostgreSQL + Redis, one process per service, alpaca-py against the emulators"
    )
    print(
        f"{'path':<8} {'orders':>7} {'p50':>9} {'p99':>9} {'max':>9} {'min':>9}  "
        "(bar published at the emulator -> order POST at the emulator)"
    )
    for result in results:
        values = result.latencies
        if not values:
            print(f"{result.path:<8} {0:>7}  (no order on the measured bars; {result.unmatched} others)")
            continue
        print(
            f"{result.path:<8} {len(values):>7} {statistics.median(values) * 1000:>7.0f}ms "
            f"{percentile(values, 0.99) * 1000:>7.0f}ms {max(values) * 1000:>7.0f}ms "
            f"{min(values) * 1000:>7.0f}ms  (start-up {result.startup_seconds:.0f}s; "
            f"{result.unmatched} POSTs on warm-up bars left out)"
        )
    by_path = {result.path: result for result in results}
    code = 0
    if {"stream", "polling"} <= set(by_path):
        stream, polling = by_path["stream"], by_path["polling"]
        if stream.orders != polling.orders or not stream.orders:
            only_stream = sorted(set(stream.orders) - set(polling.orders))
            only_polling = sorted(set(polling.orders) - set(stream.orders))
            print(
                f"DISAGREE: {len(stream.orders)} orders streamed, {len(polling.orders)} polled; "
                f"only streamed {only_stream[:5]}, only polled {only_polling[:5]}"
            )
            code = 1
        else:
            print(f"both paths placed the same {len(stream.orders)} orders (client order id, symbol, side)")
        if stream.latencies and polling.latencies:
            ratio = statistics.median(polling.latencies) / statistics.median(stream.latencies)
            print(f"stream p50 is {ratio:,.0f}x sooner than polling")
    if "stream" in by_path and by_path["stream"].latencies:
        p99 = percentile(by_path["stream"].latencies, 0.99)
        verdict = "met" if p99 < GOAL_SECONDS else "NOT met"
        print(f"goal: stream p99 < {GOAL_SECONDS * 1000:.0f} ms {verdict} ({p99 * 1000:.0f} ms)")
    return code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live")
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--minutes", type=int, default=3, help="minutes of bars measured per path")
    parser.add_argument(
        "--startup", type=float, default=45.0, help="wall seconds allowed for the start-up before 10:00"
    )
    parser.add_argument("--path", choices=["stream", "polling", "both"], default="both")
    parser.add_argument("--keep", type=Path, default=None, help="keep each path's logs under this directory")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the services and drop the database
    universe = chosen_universe(options.symbols)
    paths = ["stream", "polling"] if options.path == "both" else [options.path]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        root = options.keep or Path(scratch)
        for path in paths:
            result = run_path(path, universe, options.minutes, options.startup, root / path)
            results.append(result)
            print(
                f"  {path}: {len(result.latencies)} orders on the measured bars, p50 "
                f"{statistics.median(result.latencies or [math.nan]) * 1000:.0f} ms, p99 "
                f"{percentile(result.latencies, 0.99) * 1000:.0f} ms; a minute's last line after the "
                "bars' publication: "
                + ", ".join(
                    f"{stage} {' '.join(f'{value * 1000:.0f}' for value in values)} ms"
                    for stage, values in result.stages.items()
                ),
                flush=True,
            )
    return print_results(results)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
