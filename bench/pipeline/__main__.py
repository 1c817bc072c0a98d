"""The whole live loop in one process, timed: bar stored -> signal -> decision -> order -> fill -> position.

`python -m bench.pipeline [--symbols 500] [--cycles 10] [--backend embedded|postgres|both] [--busy]`

The real services run in this process: the strategy engine, risk manager and trade executor apps
(`create_app` + their lifespans, so their bus workers run exactly as in `trader up`), on the
embedded default (SQLite + in-process bus) or on PostgreSQL + Redis, with the data collector's
`store_released` storing each minute's bars and publishing `BarClosed` as the replay does.
Synthetic 1-minute bars (`trader.adapters.replay.synthetic`) for the first N S&P 500 names of the
sample sector map; the strategy is an SMA(2)/SMA(5) crossover on 1min, so many symbols cross
every minute and orders, fills and positions are exercised.

With the default risk limits the first minute opens the positions the limits allow and the
next fills them; later minutes are mostly denied (cooldown, no shorting). `--busy` loosens the
limits (RISK_MAX_OPEN_POSITIONS 500, RISK_SIGNAL_COOLDOWN_SECONDS 0, RISK_MAX_TRADES_PER_DAY
10000) so that every minute both places orders and fills the previous minute's, and the books
grow by some 80 positions a minute.

A cycle is one minute of N bars: from the moment the collector starts storing them to the moment
every consumer group is drained (every bar evaluated, every signal judged, every approved
order submitted, and the simulated broker has filled the previous minute's orders on these bars).
The clock is simulated at 1x, set to the minute's close when the cycle starts, so an order's
`submitted_at - bar close` is the wall latency from bar arrival to order submission.

Goal: a 500-symbol one-minute cycle in under one second on both back ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select, text

from bench.common import chosen_universe, percentile
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.migrate import upgrade_database
from trader.adapters.db.provision import drop_database, provision_database
from trader.adapters.db.tables import signals, trades
from trader.adapters.replay.synthetic import SyntheticMarket, generate_minute_bars
from trader.core import topics
from trader.core.market import Bar
from trader.core.ports import MessageBus
from trader.runtime.bootstrap import open_resources
from trader.runtime.heap import freeze_startup_objects
from trader.services.common.resources import Resources
from trader.services.data_collector.app import build_collector
from trader.services.risk_manager.app import create_app as create_risk_manager
from trader.services.strategy_engine.app import create_app as create_strategy_engine
from trader.services.trade_executor.app import create_app as create_trade_executor
from trader.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
SESSION_DAY = date(2024, 3, 5)
WARM_UP_MINUTES = 10  # the strategy's lookback (6 bars) plus a margin, stored as history
GROUPS = (
    (topics.BARS, "strategy_engine"),
    (topics.BARS, "trade_executor_prices"),
    (topics.SIGNALS, "risk_manager"),
    (topics.DECISIONS, "trade_executor"),
)
GOAL_SECONDS = 1.0
BUSY_LIMITS = {
    "RISK_MAX_OPEN_POSITIONS": "500",
    "RISK_SIGNAL_COOLDOWN_SECONDS": "0",
    "RISK_MAX_TRADES_PER_DAY": "10000",
}
# How often the bench looks whether the groups are drained: a cycle is measured to within this.
POLL_SECONDS = 0.005


@dataclass(frozen=True, slots=True)
class Cycle:
    minute: int
    seconds: float
    store_seconds: float
    signals: int
    orders: int
    fills: int


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    symbols: int
    cycles: list[Cycle]
    latencies: list[float]

    @property
    def median_cycle(self) -> float:
        return statistics.median(cycle.seconds for cycle in self.cycles)

    @property
    def worst_cycle(self) -> float:
        return max(cycle.seconds for cycle in self.cycles)


def write_sector_map(path: Path, universe: dict[str, str]) -> None:
    lines = ["symbol,sector", *(f'{symbol},"{sector}"' for symbol, sector in universe.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def drained(bus: MessageBus, redis: Redis | None) -> bool:
    """Every consumer group has read everything on its topic and acknowledged it."""
    if isinstance(bus, InMemoryBus):
        for topic, group in GROUPS:
            state = bus._topics.get(topic)
            if state is None:
                continue
            group_state = state.groups.get(group)
            if group_state is None:
                return False
            if group_state.pending or group_state.next_index < state.base_index + len(state.messages):
                return False
        return True
    assert redis is not None
    # One pipelined round trip per poll: the bench's own polling must not load the loop it measures.
    pipeline = redis.pipeline(transaction=False)
    for topic, _group in GROUPS:
        pipeline.xinfo_groups(f"stream:{topic}")
    replies = await pipeline.execute(raise_on_error=False)
    for (_topic, group), reply in zip(GROUPS, replies, strict=True):
        if isinstance(reply, Exception):
            continue  # no stream yet: nothing was published on that topic
        infos = {info["name"].decode(): info for info in reply}
        info = infos.get(group)
        if info is None or int(info["pending"]) or int(info["lag"] or 0):
            return False
    return True


async def wait_drained(bus: MessageBus, redis: Redis | None, timeout_seconds: float = 120) -> None:
    deadline = time.perf_counter() + timeout_seconds
    while not await drained(bus, redis):
        if time.perf_counter() > deadline:
            raise TimeoutError("the pipeline did not drain")
        await asyncio.sleep(POLL_SECONDS)


async def counts(resources: Resources) -> tuple[int, int, int]:
    async with resources.engine.connect() as connection:
        signals = (await connection.execute(text("SELECT count(*) FROM signals"))).scalar_one()
        orders = (await connection.execute(text("SELECT count(*) FROM trades"))).scalar_one()
        fills = (await connection.execute(text("SELECT count(*) FROM fills"))).scalar_one()
    return int(signals), int(orders), int(fills)


async def order_latencies(resources: Resources, closes: dict[datetime, datetime]) -> list[float]:
    """submitted_at - the bar's close for the timed cycles' orders (the clock runs at 1x from the close)."""
    query = (
        select(signals.c.bar_timestamp, trades.c.submitted_at)
        .join(signals, signals.c.id == trades.c.signal_id)
        .where(trades.c.submitted_at.is_not(None))
    )
    async with resources.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    latencies = []
    for bar_at, submitted_at in rows:
        close_at = closes.get(bar_at)
        if close_at is not None:
            latencies.append((submitted_at - close_at).total_seconds())
    return latencies


@contextlib.asynccontextmanager
async def backend_settings(backend: str, workdir: Path, universe: dict[str, str]) -> AsyncIterator[Settings]:
    symbols = list(universe)
    write_sector_map(workdir / "sector_map.csv", universe)
    common: dict[str, Any] = {
        "environment": "test",
        "data_dir": workdir / "data",
        "log_dir": workdir / "logs",
        "data_base_timeframe": "1min",
        "data_watchlist": ",".join(symbols),
        "strategy_default_type": "sma_crossover",
        "strategy_default_parameters": {"fast_window": 2, "slow_window": 5},
        "strategy_default_timeframe": "1min",
        "risk_sector_map_path": workdir / "sector_map.csv",
        "simulated_starting_cash": "100000000",
        "risk_sizing_fraction": "0.001",
        "strategies_dir": workdir / "strategies",
    }
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    if backend == "embedded":
        settings = Settings(**common)
        await asyncio.to_thread(upgrade_database, settings.effective_database_url)
        yield settings
        return
    name = f"trading_system_bench_{uuid.uuid4().hex[:8]}"
    await provision_database(POSTGRES_ADMIN_URL, database=name, role="trader")
    url = f"postgresql+asyncpg://trader@127.0.0.1:5432/{name}"
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    try:
        await asyncio.to_thread(upgrade_database, url)
        yield Settings(**common, database_url=url, redis_url=REDIS_URL)
    finally:
        await redis.flushdb()
        await redis.aclose()
        await drop_database(POSTGRES_ADMIN_URL, name)


async def run_backend(backend: str, symbol_count: int, cycle_count: int) -> Result:
    universe = chosen_universe(symbol_count)
    symbols = list(universe)
    calendar = XNYSCalendar()
    session = calendar.session_for(SESSION_DAY)
    assert session is not None
    bars = generate_minute_bars(symbols, [session], SyntheticMarket(seed=7, volatility=0.6))
    by_minute: dict[datetime, list[Bar]] = {}
    for bar in bars:
        by_minute.setdefault(bar.timestamp, []).append(bar)
    minutes = sorted(by_minute)[: WARM_UP_MINUTES + cycle_count]
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as directory:
        async with backend_settings(backend, Path(directory), universe) as settings:
            clock = SimulatedClock(minutes[WARM_UP_MINUTES - 1] + timedelta(minutes=1), speed=1.0)
            async with (
                open_resources(settings, clock=clock) as resources,
                contextlib.AsyncExitStack() as stack,
            ):
                collector, _source = build_collector(resources, calendar)
                for minute in minutes[:WARM_UP_MINUTES]:
                    await collector.store_released(by_minute[minute], publish=False)
                for create in (create_strategy_engine, create_risk_manager, create_trade_executor):
                    app = create(resources)
                    await stack.enter_async_context(app.router.lifespan_context(app))
                await wait_for_groups(resources.bus, resources.redis)
                freeze_startup_objects()  # as `trader up` and `trader serve` do once every service is up
                cycles: list[Cycle] = []
                closes: dict[datetime, datetime] = {}
                before = await counts(resources)
                for index, minute in enumerate(minutes[WARM_UP_MINUTES:]):
                    close_at = minute + timedelta(minutes=1)
                    closes[minute] = close_at
                    clock.advance_to(max(close_at, clock.now()))
                    started = time.perf_counter()
                    await collector.store_released(by_minute[minute], publish=True)
                    stored = time.perf_counter()
                    await wait_drained(resources.bus, resources.redis)
                    finished = time.perf_counter()
                    after = await counts(resources)
                    cycles.append(
                        Cycle(
                            minute=index,
                            seconds=finished - started,
                            store_seconds=stored - started,
                            signals=after[0] - before[0],
                            orders=after[1] - before[1],
                            fills=after[2] - before[2],
                        )
                    )
                    before = after
                latencies = await order_latencies(resources, closes)
    return Result(backend, symbol_count, cycles, latencies)


async def wait_for_groups(bus: MessageBus, redis: Redis | None) -> None:
    """The workers have created their consumer groups (they start at the end of the stream)."""
    for topic, group in GROUPS:
        for _attempt in range(500):
            if isinstance(bus, InMemoryBus):
                state = bus._topics.get(topic)
                if state is not None and group in state.groups:
                    break
            else:
                assert redis is not None
                stream = f"stream:{topic}"
                if await redis.exists(stream) and group in {
                    info["name"].decode() for info in await redis.xinfo_groups(stream)
                }:
                    break
            await asyncio.sleep(0.01)
        else:
            raise TimeoutError(f"no consumer group {group} on {topic}")


def print_result(result: Result) -> None:
    print(f"\n{result.backend}: {result.symbols} symbols, {len(result.cycles)} one-minute cycles")
    print(f"{'minute':>6} {'cycle s':>8} {'store s':>8} {'signals':>8} {'orders':>7} {'fills':>6}")
    for cycle in result.cycles:
        print(
            f"{cycle.minute:>6} {cycle.seconds:>8.3f} {cycle.store_seconds:>8.3f} "
            f"{cycle.signals:>8} {cycle.orders:>7} {cycle.fills:>6}"
        )


def print_summary(results: list[Result]) -> None:
    print(
        f"\n{'backend':<10} {'bars/s':>8} {'cycle p50':>10} {'cycle max':>10} "
        f"{'order p50':>10} {'order p99':>10} {'orders':>7} {'fills':>6} {'goal <1s':>9}"
    )
    for result in results:
        total_seconds = sum(cycle.seconds for cycle in result.cycles)
        bars = result.symbols * len(result.cycles)
        verdict = "met" if result.median_cycle < GOAL_SECONDS else "MISSED"
        print(
            f"{result.backend:<10} {bars / total_seconds:>8.0f} {result.median_cycle:>9.3f}s "
            f"{result.worst_cycle:>9.3f}s {percentile(result.latencies, 0.5):>9.3f}s "
            f"{percentile(result.latencies, 0.99):>9.3f}s {sum(c.orders for c in result.cycles):>7} "
            f"{sum(c.fills for c in result.cycles):>6} {verdict:>9}"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--backend", choices=("embedded", "postgres", "both"), default="both")
    parser.add_argument(
        "--busy", action="store_true", help="risk limits that let orders through every minute"
    )
    options = parser.parse_args(argv)
    if options.busy:
        os.environ.update(BUSY_LIMITS)  # the risk manager reads its limits from RISK_* variables
    backends = ["embedded", "postgres"] if options.backend == "both" else [options.backend]
    results = []
    for backend in backends:
        result = asyncio.run(run_backend(backend, options.symbols, options.cycles))
        print_result(result)
        results.append(result)
    print_summary(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
