"""A live collector on loopback for the tests: Alpaca's REST and stream emulators, our stream adapter
and REST provider, the collector with its publisher, `run_live` on a simulated clock, and the bus read
back by an observer group (created before anything is published, as the services' groups are)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.alpaca import AlpacaEmulator, DataBar
from tests.emulators.alpaca_data_stream import AlpacaDataStreamEmulator
from tests.emulators.server import EmulatorServer
from tests.integration.data_collector.conftest import CALENDAR, make_collector
from trader.adapters.alpaca.data_stream import AlpacaBarStream, StreamTimings
from trader.adapters.alpaca.market_data import AlpacaMarketDataProvider
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.bar_cursors import BarCursorStore
from trader.core.events import BarClosed, BarCorrected, Event
from trader.core.market import Timeframe
from trader.core.ports import MarketDataProvider, MessageBus
from trader.core.topics import BARS
from trader.services.data_collector.handlers import DataCollector
from trader.services.data_collector.publisher import BarPublisher, PublishingRules
from trader.services.data_collector.streaming import StreamFeed
from trader.services.data_collector.worker import run_live

LIVE = (Timeframe.MINUTE5, Timeframe.MINUTE15, Timeframe.MINUTE30, Timeframe.HOUR1, Timeframe.DAY1)
SETTLE = timedelta(seconds=5)
MINUTE = timedelta(minutes=1)
FRESHNESS = timedelta(seconds=60)
OBSERVER = "observer"
WAIT_STEPS = 1000


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(WAIT_STEPS):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what}: not reached within {WAIT_STEPS / 100:.0f} s")


async def stream_minute(
    live: LiveCollector, clock: SimulatedClock, emulator: AlpacaDataStreamEmulator, row: DataBar
) -> None:
    """Close a minute on the clock, stream its bar, and wait until it is decided (its cursor stored)."""
    clock.advance_to(row.at + MINUTE + timedelta(seconds=1))
    emulator.emit_bars([("AAPL", row)])
    await until(
        lambda: (live.publisher.cursor("AAPL", Timeframe.MINUTE1) or row.at - MINUTE) >= row.at,
        f"the bar of {row.at.isoformat()} decided",
    )


def attach_publisher(collector: DataCollector, engine: AsyncEngine, bus: MessageBus) -> BarPublisher:
    collector.publisher = BarPublisher(
        store=collector.store,
        cursors=BarCursorStore(engine),
        bus=bus,
        calendar=CALENDAR,
        clock=collector.clock,  # type: ignore[arg-type]
        rules=PublishingRules(base=Timeframe.MINUTE1, higher=LIVE, freshness=FRESHNESS, settle=SETTLE),
    )
    return collector.publisher


@dataclass
class Observed:
    """Everything published on BARS, in order, read by an observer group."""

    bus: MessageBus
    events: list[Event] = field(default_factory=list)

    async def drain(self) -> list[Event]:
        while True:
            deliveries = await self.bus.read(BARS, OBSERVER, "observer", count=1000, block_ms=1)
            if not deliveries:
                return self.events
            self.events.extend(delivery.event for delivery in deliveries)
            await self.bus.ack(BARS, OBSERVER, [delivery.message_id for delivery in deliveries])

    def closed(self, timeframe: Timeframe | None = None) -> list[BarClosed]:
        return [
            event
            for event in self.events
            if isinstance(event, BarClosed) and (timeframe is None or event.timeframe is timeframe)
        ]

    def corrected(self) -> list[BarCorrected]:
        return [event for event in self.events if isinstance(event, BarCorrected)]

    def repeats(self) -> Counter[tuple[str, str, datetime]]:
        keys = Counter((event.timeframe.value, event.symbol, event.bar_at) for event in self.closed())
        return Counter({key: count for key, count in keys.items() if count > 1})


@dataclass
class LiveCollector:
    collector: DataCollector
    publisher: BarPublisher
    feed: StreamFeed | None
    task: asyncio.Task[None]

    @property
    def stream(self) -> AlpacaBarStream:
        assert self.feed is not None
        stream = self.feed.stream
        assert isinstance(stream, AlpacaBarStream)
        return stream

    def published(self, timeframe: Timeframe) -> int:
        return self.publisher.tallies[timeframe].published

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@contextlib.asynccontextmanager
async def running_collector(
    engine: AsyncEngine,
    bus: MessageBus,
    clock: SimulatedClock,
    provider: MarketDataProvider,
    stream: AlpacaBarStream | None,
    watchlist: Sequence[str] = ("AAPL",),
) -> AsyncIterator[LiveCollector]:
    collector = make_collector(engine, provider, clock, bus)  # type: ignore[arg-type]
    collector._default_watchlist = list(watchlist)
    publisher = attach_publisher(collector, engine, bus)
    await publisher.start()
    feed = StreamFeed(collector, stream) if stream is not None else None
    task = asyncio.create_task(run_live(collector, feed, settle=SETTLE))
    live = LiveCollector(collector, publisher, feed, task)
    try:
        yield live
    finally:
        await live.stop()


def alpaca_parts(
    rest: AlpacaEmulator,
    rest_server: EmulatorServer,
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
    clock: SimulatedClock,
    *,
    refused_retry_seconds: float = 60.0,
) -> tuple[AlpacaMarketDataProvider, AlpacaBarStream]:
    provider = AlpacaMarketDataProvider(
        rest.api_key, rest.secret_key, CALENDAR, clock, feed="iex", url_override=rest_server.base_url
    )
    stream = AlpacaBarStream(
        stream_emulator.api_key,
        stream_emulator.secret_key,
        CALENDAR,
        clock,
        url=f"ws://127.0.0.1:{stream_server.port}",
        timings=StreamTimings(
            reconnect_min_seconds=0.05,
            reconnect_max_seconds=0.2,
            refused_retry_seconds=refused_retry_seconds,
            answer_timeout_seconds=5,
        ),
        jitter=lambda: 0.5,
    )
    return provider, stream
