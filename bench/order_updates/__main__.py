"""Broker fill -> in our books: the order-update stream beside reconciliation polling, same workload.

`python -m bench.order_updates [--orders 200] [--rounds 3] [--interval 30] [--backend sqlite|postgres|both]`

The trade executor (its real parts, on SQLite or PostgreSQL) trades against the Alpaca emulator
over loopback: each round it places N market orders over 20 symbols, waits until the broker has
accepted them all, then the emulator fills them all at once. Measured per order: from the fill
at the broker to the moment the order reads FILLED in `trades` (polled every 5 ms).

- stream: the executor listens to the emulator's trade_updates websocket (`AlpacaOrderUpdates`);
- polling: no stream; reconciliation every `--interval` seconds (the service's default, 30 s),
  the fills landing at a random moment of the interval, as they do in a live session.

Both paths must end with the same books: every order filled once, one fill each, positions equal
to the broker's. Goal: the stream's p99 under one second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import percentile
from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.server import EmulatorServer
from trader.adapters.alpaca.broker import AlpacaBroker
from trader.adapters.alpaca.trading_stream import AlpacaOrderUpdates, stream_url_for
from trader.adapters.backoff import ReconnectBackoff
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.migrate import upgrade_database
from trader.adapters.db.provision import drop_database, provision_database
from trader.adapters.db.stores.orders import OrderOrigin, OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.adapters.db.tables import fills, trades
from trader.core.broker import OrderRequest
from trader.core.orders import OrderSide, OrderStatus
from trader.services.trade_executor.handlers import ExecutorConfig, TradeExecutor

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
OPEN_AT = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
SYMBOLS = [f"SYM{index:02d}" for index in range(20)]
GOAL_SECONDS = 1.0


@dataclass
class Result:
    backend: str
    path: str
    latencies: list[float] = field(default_factory=list)
    pass_seconds: list[float] = field(default_factory=list)


@contextlib.asynccontextmanager
async def database(backend: str, workdir: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh, migrated database: a SQLite file, or a PostgreSQL database dropped afterwards."""
    name = f"trading_system_bench_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'{name}.db'}"
    else:
        await provision_database(POSTGRES_ADMIN_URL, database=name, role="trader")
        url = f"postgresql+asyncpg://trader@127.0.0.1:5432/{name}"
    try:
        await asyncio.to_thread(upgrade_database, url)
        engine = create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()
    finally:
        if backend == "postgres":
            await drop_database(POSTGRES_ADMIN_URL, name)


def executor_over(engine: AsyncEngine, server: EmulatorServer) -> TradeExecutor:
    return TradeExecutor(
        broker=AlpacaBroker("test-alpaca-key", "test-alpaca-secret", base_url=server.base_url),
        orders=OrderStore(engine),
        positions=PositionStore(engine),
        trading_state=TradingStateStore(engine),
        clock=SimulatedClock(OPEN_AT, speed=0),
        bus=InMemoryBus(),
        config=ExecutorConfig(),
    )


async def filled_at(
    engine: AsyncEngine, round_number: int, expected: int, started: float, within: float
) -> list[float]:
    """Seconds from `started` until each of the round's `expected` orders reads FILLED with its
    fills in `fills` (the reconciliation path writes the status before the fills)."""
    seen: dict[int, float] = {}
    deadline = started + within
    query = (
        select(trades.c.id)
        .join(fills, fills.c.trade_id == trades.c.id)
        .where(
            trades.c.status == OrderStatus.FILLED.value,
            trades.c.client_order_id.like(f"bench-{round_number}-%"),
        )
        .group_by(trades.c.id, trades.c.quantity)
        .having(func.sum(fills.c.quantity) == trades.c.quantity)
    )
    while len(seen) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)} of {expected} fills reached the books in {within:.0f}s")
        async with engine.connect() as connection:
            rows = (await connection.execute(query)).scalars().all()
        now = time.monotonic()
        for order_id in rows:
            seen.setdefault(order_id, now - started)
        await asyncio.sleep(0.005)
    return list(seen.values())


async def place(executor: TradeExecutor, count: int, round_number: int) -> None:
    wanted = [
        (
            OrderRequest(
                f"bench-{round_number}-{index}", SYMBOLS[index % len(SYMBOLS)], OrderSide.BUY, Decimal(1)
            ),
            OrderOrigin(),
        )
        for index in range(count)
    ]
    results = await executor.execute_many(wanted)
    accepted = [r for r in results if r.order is not None and r.order.status is OrderStatus.ACCEPTED]
    if len(accepted) != count:
        raise RuntimeError(f"only {len(accepted)} of {count} orders were accepted")


async def listening(stream: AlpacaOrderUpdates) -> None:
    for _ in range(1000):
        if stream.status.listening:
            return
        await asyncio.sleep(0.01)
    raise RuntimeError(f"the stream is not listening: {stream.status}")


async def polling(executor: TradeExecutor, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await executor.reconcile()


async def run_path(
    backend: str, path: str, orders: int, rounds: int, interval: float, workdir: Path
) -> Result:
    result = Result(backend, path)
    emulator = AlpacaEmulator(now=OPEN_AT, cash=Decimal(100_000_000))
    for symbol in SYMBOLS:
        emulator.set_price(symbol, Decimal("100"))
    with EmulatorServer(emulator.app) as server:
        async with database(backend, workdir) as engine:
            executor = executor_over(engine, server)
            if path == "stream":
                stream = AlpacaOrderUpdates(
                    "test-alpaca-key",
                    "test-alpaca-secret",
                    url=stream_url_for(server.base_url),
                    clock=executor.clock,
                    backoff=ReconnectBackoff(first_seconds=0.05, most_seconds=0.5),
                )
                worker = asyncio.create_task(stream.run(executor.order_updates))
                await listening(stream)
            else:
                worker = asyncio.create_task(polling(executor, interval))
            try:
                for round_number in range(rounds):
                    await place(executor, orders, round_number)
                    if path == "polling":
                        await asyncio.sleep(random.uniform(0, interval))  # a random phase of the interval
                    started = time.monotonic()
                    emulator.fill_pending()
                    result.latencies += await filled_at(
                        engine, round_number, orders, started, within=interval * 2 + 60
                    )
            finally:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
                await executor.order_updates.close()
            await check_books(engine, emulator, orders * rounds)
            started = time.monotonic()
            await executor.reconcile()
            result.pass_seconds.append(time.monotonic() - started)
    return result


async def check_books(engine: AsyncEngine, emulator: AlpacaEmulator, expected: int) -> None:
    async with engine.connect() as connection:
        fill_count = await connection.scalar(select(func.count()).select_from(fills))
        filled = await connection.scalar(
            select(func.count()).select_from(trades).where(trades.c.status == "filled")
        )
    positions = {p.symbol: p.position.quantity for p in await PositionStore(engine).all()}
    theirs = {symbol: emulator.position_qty(symbol) for symbol in SYMBOLS}
    if fill_count != expected or filled != expected or positions != theirs:
        raise RuntimeError(
            f"books differ from the broker: {filled} filled orders and {fill_count} fills for {expected}; "
            f"positions equal: {positions == theirs}"
        )


def print_results(results: list[Result], orders: int, rounds: int, interval: float) -> None:
    print(
        f"\n{orders} market orders x {rounds} rounds, filled at once by the emulator; "
        f"polling every {interval:g}s"
    )
    print(
        f"{'backend':<9} {'path':<8} {'p50':>9} {'p99':>9} {'max':>9}  "
        "(broker fill -> filled, with its fill, in the books)"
    )
    for result in results:
        values = result.latencies
        print(
            f"{result.backend:<9} {result.path:<8} {statistics.median(values) * 1000:>7.0f}ms "
            f"{percentile(values, 0.99) * 1000:>7.0f}ms {max(values) * 1000:>7.0f}ms"
            f"   (one reconciliation pass over the books afterwards: {result.pass_seconds[0] * 1000:.0f}ms)"
        )
    for backend in sorted({r.backend for r in results}):
        by_path = {r.path: r for r in results if r.backend == backend}
        if {"stream", "polling"} <= set(by_path):
            ratio = statistics.median(by_path["polling"].latencies) / statistics.median(
                by_path["stream"].latencies
            )
            verdict = "met" if percentile(by_path["stream"].latencies, 0.99) < GOAL_SECONDS else "NOT met"
            print(
                f"{backend}: stream p50 is {ratio:,.0f}x sooner than polling; "
                f"goal p99 < {GOAL_SECONDS:g}s {verdict}"
            )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.order_updates")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--interval", type=float, default=30.0, help="reconciliation interval of the polling path"
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    options = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if options.backend == "both" else [options.backend]
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            for path in ("stream", "polling"):
                results.append(
                    asyncio.run(
                        run_path(
                            backend, path, options.orders, options.rounds, options.interval, Path(workdir)
                        )
                    )
                )
    print_results(results, options.orders, options.rounds, options.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
