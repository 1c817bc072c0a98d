"""The live collector end to end on loopback: Alpaca's stream and REST emulators, our adapter and
provider, `run_live` on a simulated clock, the publisher's cursors in SQLite and PostgreSQL.

Every closed bar of every live timeframe is announced exactly once (the 1-hour bucket cut at an early
close, the daily bar at that close), bars that closed before the system could act are history, a
restart mid-session announces nothing twice and nothing stale, a stream cut is bridged by polling and
backfill, and corrections are announced as corrections."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.alpaca import AlpacaEmulator, DataBar, minute_bars
from tests.emulators.alpaca_data_stream import AlpacaDataStreamEmulator
from tests.emulators.server import EmulatorServer
from tests.integration.data_collector.conftest import CALENDAR
from tests.integration.data_collector.live import (
    OBSERVER,
    Observed,
    alpaca_parts,
    running_collector,
    stream_minute,
    until,
)
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.bus.redis_streams import BusUnavailableError, RedisStreamsBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.core.aggregation import aggregate_bars
from trader.core.events import Event
from trader.core.market import Bar, Timeframe
from trader.core.ports import MessageBus
from trader.core.streams import StreamState
from trader.core.topics import BARS

# 2024-07-03: the session closes early, at 13:00 New York (17:00 UTC).
OPEN = datetime(2024, 7, 3, 13, 30, tzinfo=UTC)
NOON = datetime(2024, 7, 3, 16, 0, tzinfo=UTC)
CLOSE = datetime(2024, 7, 3, 17, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def day_bars() -> list[DataBar]:
    """The whole early-close session, one bar a minute from 09:30 to 12:59 New York."""
    closes = [
        Decimal("100") + Decimal("0.01") * (index % 37) + Decimal("0.05") * (index // 30)
        for index in range(210)
    ]
    return minute_bars(OPEN, closes)


def as_bar(row: DataBar) -> Bar:
    return Bar(
        "AAPL",
        Timeframe.MINUTE1,
        row.at,
        row.open,
        row.high,
        row.low,
        row.close,
        Decimal(row.volume),
        "alpaca",
    )


@pytest.fixture
async def observed() -> Observed:
    bus = InMemoryBus()
    await bus.ensure_group(BARS, OBSERVER)
    return Observed(bus)


async def test_every_timeframe_is_announced_once_as_it_closes_on_an_early_close_day(
    engine: AsyncEngine,
    observed: Observed,
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
) -> None:
    bars = day_bars()
    morning, afternoon = bars[:150], bars[150:]  # 09:30-11:59 by REST backfill, 12:00-12:59 streamed
    alpaca.seed_bars("AAPL", "1Min", morning)
    clock = SimulatedClock(NOON, speed=0)
    provider, stream = alpaca_parts(alpaca, alpaca_server, stream_emulator, stream_server, clock)
    async with running_collector(engine, observed.bus, clock, provider, stream) as live:
        await until(
            lambda: live.feed is not None and live.feed.backfills == 1, "the backfill after connecting"
        )
        # The morning is history; only what closed in the last minute is fresh: 11:59, and the
        # 5-, 15- and 30-minute buckets it completes.
        assert (
            live.published(Timeframe.MINUTE1) == 1
            and live.publisher.tallies[Timeframe.MINUTE1].history == 149
        )
        for row in afternoon:
            await stream_minute(live, clock, stream_emulator, row)
        await until(lambda: live.published(Timeframe.DAY1) == 1, "the daily bar at the early close")
        clock.advance_to(CLOSE + timedelta(seconds=30))  # the last tick of the session finds nothing more
        await until(
            lambda: clock.now() >= CLOSE and live.stream.status().state is StreamState.STREAMING, "tick"
        )
    events = await observed.drain()
    assert not observed.repeats()
    counts = {timeframe: len(observed.closed(timeframe)) for timeframe in Timeframe}
    assert counts == {
        Timeframe.MINUTE1: 61,
        Timeframe.MINUTE5: 13,
        Timeframe.MINUTE15: 5,
        Timeframe.MINUTE30: 3,
        Timeframe.HOUR1: 2,
        Timeframe.DAY1: 1,
    }
    stored = await MarketDataStore(engine).bars("AAPL", timeframe=Timeframe.MINUTE1)
    assert [bar.timestamp for bar in stored] == [row.at for row in bars]
    # Buckets are aggregated from the stored minutes (the first hour's half came by REST): the 11:30
    # hour closes at 12:30, the 12:30 hour is cut at the 13:00 close, the day is the whole session.
    hours = observed.closed(Timeframe.HOUR1)
    expected_hours = aggregate_bars([as_bar(row) for row in bars[120:]], Timeframe.HOUR1, CALENDAR)
    assert [(e.bar_at, e.open, e.high, e.low, e.close, e.volume) for e in hours] == [
        (bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume) for bar in expected_hours
    ]
    (day,) = observed.closed(Timeframe.DAY1)
    (expected_day,) = aggregate_bars([as_bar(row) for row in bars], Timeframe.DAY1, CALENDAR)
    assert (day.bar_at, day.open, day.close, day.volume) == (
        OPEN,
        expected_day.open,
        expected_day.close,
        expected_day.volume,
    )
    # Announced as they closed: each bucket after the minute that completed it, the day last.
    order = [(event.timeframe, event.bar_at) for event in observed.closed()]
    assert order.index((Timeframe.DAY1, OPEN)) == len(order) - 1
    assert order.index((Timeframe.HOUR1, datetime(2024, 7, 3, 15, 30, tzinfo=UTC))) > order.index(
        (Timeframe.MINUTE1, datetime(2024, 7, 3, 16, 29, tzinfo=UTC))
    )
    assert all(event.occurred_at >= event.bar_at for event in observed.closed())
    assert len(events) == sum(counts.values())


async def test_a_restart_mid_session_announces_nothing_twice_and_nothing_stale(
    engine: AsyncEngine,
    redis_url: str,
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    bus: MessageBus = RedisStreamsBus(client)
    await bus.ensure_group(BARS, OBSERVER)
    observed = Observed(bus)
    bars = day_bars()
    alpaca.seed_bars("AAPL", "1Min", bars[:150])
    clock = SimulatedClock(NOON, speed=0)
    try:
        provider, stream = alpaca_parts(alpaca, alpaca_server, stream_emulator, stream_server, clock)
        async with running_collector(engine, bus, clock, provider, stream) as live:
            await until(lambda: live.feed is not None and live.feed.backfills == 1, "first backfill")
            for row in bars[150:160]:  # 12:00-12:09 streamed, each announced and its cursor stored
                await stream_minute(live, clock, stream_emulator, row)
        # Down (killed: no clean anything) from 12:10:01 to 12:15:30; meanwhile the provider went on.
        stream_emulator.emit_bars([("AAPL", row) for row in bars[160:165]])
        clock.advance_to(datetime(2024, 7, 3, 16, 15, 30, tzinfo=UTC))
        caplog.set_level(logging.INFO, logger="trader.services.data_collector")
        provider, stream = alpaca_parts(alpaca, alpaca_server, stream_emulator, stream_server, clock)
        async with running_collector(engine, bus, clock, provider, stream) as live:
            await until(
                lambda: live.feed is not None and live.feed.backfills == 1, "backfill after the restart"
            )
            for row in bars[165:170]:  # 12:15-12:19 streamed again
                await stream_minute(live, clock, stream_emulator, row)
        await observed.drain()
    finally:
        await client.flushdb()
        await bus.close()
    assert not observed.repeats()
    minutes = [event.bar_at for event in observed.closed(Timeframe.MINUTE1)]
    at = [bar.at for bar in bars]
    # 11:59 (fresh at the first start), 12:00-12:09 streamed, then after the restart at 12:15:30 only
    # 12:14 had closed within the last minute; 12:10-12:13 are stored history, never signals.
    assert minutes == [at[149], *at[150:160], at[164], *at[165:170]]
    fives = [event.bar_at for event in observed.closed(Timeframe.MINUTE5)]
    assert fives == [at[145], at[150], at[155], at[160], at[165]]  # 12:10 closed at 12:15:00, 30 s before
    assert (
        # Counted as the history pass moves over them, or as they arrive behind it: either way, once.
        "history, not signals: 4 stored 1min bars of 1 symbols inside 1min bars that" in caplog.text
    )
    stored = await MarketDataStore(engine).timestamps("AAPL", Timeframe.MINUTE1, OPEN, CLOSE)
    assert stored == at[:170]


async def test_a_cut_stream_is_bridged_by_polling_and_a_backfill_doubles_nothing(
    engine: AsyncEngine,
    observed: Observed,
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
) -> None:
    bars = day_bars()
    alpaca.seed_bars("AAPL", "1Min", bars[:150])
    clock = SimulatedClock(NOON, speed=0)
    provider, stream = alpaca_parts(
        alpaca, alpaca_server, stream_emulator, stream_server, clock, refused_retry_seconds=0.3
    )
    async with running_collector(engine, observed.bus, clock, provider, stream) as live:
        await until(lambda: live.feed is not None and live.feed.backfills == 1, "first backfill")
        # The stream is cut and refused for a while (the keys were rotated under it).
        stream_emulator.secret_key = "rotated"
        stream_emulator.drop_connections()
        await until(lambda: live.stream.status().state is StreamState.REFUSED, "refused")
        for index, row in enumerate(bars[150:155]):  # the provider's REST still has every bar
            stream_emulator.emit_bars([("AAPL", row)])
            clock.advance_to(row.at + MINUTE + timedelta(seconds=6))  # the tick polls after settle
            await until(
                lambda index=index: live.published(Timeframe.MINUTE1) == 2 + index, f"polled {row.at}"
            )
        stream_emulator.secret_key = alpaca.secret_key
        await until(lambda: live.feed is not None and live.feed.backfills == 2, "backfill after reconnecting")
        assert live.stream.status().state is StreamState.STREAMING and live.stream.status().connections == 2
        row = bars[155]
        clock.advance_to(row.at + MINUTE + timedelta(seconds=1))
        stream_emulator.emit_bars([("AAPL", row)])
        await until(lambda: live.published(Timeframe.MINUTE1) == 7, "streamed again")
    await observed.drain()
    assert not observed.repeats()
    assert [event.bar_at for event in observed.closed(Timeframe.MINUTE1)] == [bar.at for bar in bars[149:156]]
    assert [event.bar_at for event in observed.closed(Timeframe.MINUTE5)] == [bars[145].at, bars[150].at]


async def test_corrections_of_announced_bars_are_announced_as_corrections(
    engine: AsyncEngine,
    observed: Observed,
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
) -> None:
    bars = day_bars()
    alpaca.seed_bars("AAPL", "1Min", bars[:150])
    clock = SimulatedClock(NOON, speed=0)
    provider, stream = alpaca_parts(alpaca, alpaca_server, stream_emulator, stream_server, clock)
    async with running_collector(engine, observed.bus, clock, provider, stream) as live:
        await until(lambda: live.feed is not None and live.feed.backfills == 1, "first backfill")
        for row in bars[150:155]:
            await stream_minute(live, clock, stream_emulator, row)
        late = bars[154]
        corrected = DataBar(
            late.at, late.open, late.high + Decimal(1), late.low, late.close + Decimal("0.5"), 5000
        )
        stream_emulator.emit_updated_bars([("AAPL", corrected)])  # late trades for 12:04
        await until(lambda: live.publisher.tallies[Timeframe.MINUTE1].corrections == 1, "the correction")
        # The same values again (a repeat, or REST agreeing) are no correction: stored as unchanged.
        unchanged = live.collector.totals.duplicate
        stream_emulator.emit_updated_bars([("AAPL", corrected)])
        await until(lambda: live.collector.totals.duplicate == unchanged + 1, "the repeat read")
        # A REST answer that differs from a stored, announced bar is one too (12:03, on the next poll).
        earlier = bars[153]
        alpaca.seed_bars(
            "AAPL",
            "1Min",
            [DataBar(earlier.at, earlier.open, earlier.high, earlier.low, earlier.close, 7777)],
        )
        await live.collector.backfill_symbol("AAPL", earlier.at, clock.now(), force=True)
    events = await observed.drain()
    assert not observed.repeats()
    fixes = [(event.timeframe, event.bar_at, event.close, event.volume) for event in observed.corrected()]
    assert fixes == [
        (Timeframe.MINUTE1, late.at, late.close + Decimal("0.5"), Decimal(5000)),
        # The 12:00 five-minute bar was announced; it is corrected too (its high and volume changed).
        (Timeframe.MINUTE5, bars[150].at, late.close + Decimal("0.5"), fixes[1][3]),
        (Timeframe.MINUTE1, earlier.at, earlier.close, Decimal(7777)),
        (Timeframe.MINUTE5, bars[150].at, late.close + Decimal("0.5"), fixes[3][3]),
    ]
    assert observed.corrected()[0].previous_close == late.close
    stored = await MarketDataStore(engine).bars(
        "AAPL", start=late.at, end=late.at + MINUTE, timeframe=Timeframe.MINUTE1
    )
    assert stored[0].close == late.close + Decimal("0.5")
    assert len([event for event in events if type(event).__name__ == "BarClosed"]) == len(observed.closed())


class FlakyBus(InMemoryBus):
    """The in-process bus, refusing every publication while `down` (Redis restarting)."""

    down = False

    async def publish(self, topic: str, event: Event) -> str:
        if self.down:
            raise BusUnavailableError(f"cannot publish to {topic}: Connection refused")
        return await super().publish(topic, event)

    async def publish_many(self, topic: str, events: Sequence[Event]) -> list[str]:
        if self.down:
            raise BusUnavailableError(f"cannot publish to {topic}: Connection refused")
        return await super().publish_many(topic, events)


@dataclass
class FlakyBusRun:
    """A collector streaming AAPL at noon, its first backfill done, on a bus that can go down."""

    live: Any
    bus: FlakyBus
    observed: Observed
    bars: list[DataBar]
    clock: SimulatedClock
    feed: Any

    async def stream_while_the_bus_is_down(self, emulator: AlpacaDataStreamEmulator, row: DataBar) -> None:
        """Redis goes down as `row` closes and is streamed: the bar is stored, its announcement refused."""
        self.bus.down = True
        self.clock.advance_to(row.at + MINUTE + timedelta(seconds=1))
        emulator.emit_bars([("AAPL", row)])
        store = self.live.collector.store
        deadline = asyncio.get_running_loop().time() + 5
        while await store.latest_at("AAPL", Timeframe.MINUTE1) != row.at:
            assert asyncio.get_running_loop().time() < deadline, f"the streamed bar {row.at} was not stored"
            await asyncio.sleep(0.01)


@asynccontextmanager
async def streaming_on_a_flaky_bus(
    engine: AsyncEngine,
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
) -> AsyncIterator[FlakyBusRun]:
    bus = FlakyBus()
    await bus.ensure_group(BARS, OBSERVER)
    observed = Observed(bus)
    bars = day_bars()
    alpaca.seed_bars("AAPL", "1Min", bars[:150])
    clock = SimulatedClock(NOON, speed=0)
    provider, stream = alpaca_parts(alpaca, alpaca_server, stream_emulator, stream_server, clock)
    async with running_collector(engine, bus, clock, provider, stream) as live:
        feed = live.feed
        assert feed is not None
        await until(lambda: feed.backfills == 1, "first backfill")
        yield FlakyBusRun(live, bus, observed, bars, clock, feed)


async def test_a_backfill_that_fails_on_the_bus_is_retried_and_streamed_bars_are_announced_again(
    engine: AsyncEngine,
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
) -> None:
    """Found by the live paper session (tests/e2e/test_live_paper_session.py): Redis restarting while
    the stream reconnected made the backfill after the reconnection fail, its symbols stayed "not
    filled" for good, and from then on every streamed bar waited for the next tick and was announced
    a minute late, as history: nothing was evaluated for the rest of the day."""
    async with streaming_on_a_flaky_bus(engine, alpaca, alpaca_server, stream_emulator, stream_server) as run:
        live, bus, observed, bars, clock, feed = (
            run.live,
            run.bus,
            run.observed,
            run.bars,
            run.clock,
            run.feed,
        )
        # Redis goes down: a streamed bar is stored but cannot be announced, the stream stops on the
        # error, and the tick restarts it; the backfill after that connection cannot announce either.
        await run.stream_while_the_bus_is_down(stream_emulator, bars[150])
        clock.advance_to(bars[150].at + MINUTE + timedelta(seconds=6))
        await until(lambda: live.stream.status().connections == 2, "the stream restarted")
        await until(
            lambda: feed.backfills == 2 or (feed._backfill_task is not None and feed._backfill_task.done()),
            "the backfill tried",
        )
        bus.down = False
        # Redis is back: the next tick retries the backfill, and streamed bars are announced on arrival
        # (the bar held up by the outage has closed more than a minute ago by then: history).
        clock.advance_to(bars[151].at + MINUTE + timedelta(seconds=1))
        stream_emulator.emit_bars([("AAPL", bars[151])])
        clock.advance_to(bars[151].at + MINUTE + timedelta(seconds=6))
        await until(lambda: live.published(Timeframe.MINUTE1) == 2, "the bar after the outage announced")
        row = bars[152]
        clock.advance_to(row.at + MINUTE + timedelta(seconds=1))
        stream_emulator.emit_bars([("AAPL", row)])
        await until(lambda: live.published(Timeframe.MINUTE1) == 3, "the streamed bar announced on arrival")
    await observed.drain()
    assert not observed.repeats()
    assert [event.bar_at for event in observed.closed(Timeframe.MINUTE1)] == [
        bars[149].at,
        bars[151].at,
        bars[152].at,
    ]


async def test_a_tick_that_fails_on_the_bus_is_retried_within_the_minute_not_at_the_next_bar(
    engine: AsyncEngine,
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
) -> None:
    """Found by the live paper session: with Redis down for a second as a minute's bars were due, the
    tick failed and was tried again only at the next bar, a minute later, when the bar was history
    (older than DATA_FRESHNESS_SECONDS): a two-second outage cost every symbol a bar's signal."""
    async with streaming_on_a_flaky_bus(engine, alpaca, alpaca_server, stream_emulator, stream_server) as run:
        live, bus, observed, bars, clock = run.live, run.bus, run.observed, run.bars, run.clock
        await run.stream_while_the_bus_is_down(stream_emulator, bars[150])  # stored, not announced
        clock.advance_to(bars[150].at + MINUTE + timedelta(seconds=6))  # the tick: the bus refuses
        await asyncio.sleep(0.5)
        bus.down = False
        # The clock stays where it is: the bar is announced by the tick's retry, seconds later.
        await until(lambda: live.published(Timeframe.MINUTE1) == 2, "the bar announced by the retry")
    await observed.drain()
    assert [event.bar_at for event in observed.closed(Timeframe.MINUTE1)] == [bars[149].at, bars[150].at]
