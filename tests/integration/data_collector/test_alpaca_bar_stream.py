"""Our Alpaca bar stream against the websocket emulator over real sockets: authentication accepted and
refused, the subscription acknowledged, JSON and MessagePack frames, corrections and daily bars, messages
it cannot read counted with a reason while the stream goes on, the one-connection limit, and a dropped
connection coming back (each reconnection announced, so the collector can backfill)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import msgpack
import pytest

from tests.emulators.alpaca import DataBar, minute_bars
from tests.emulators.alpaca_data_stream import AlpacaDataStreamEmulator
from tests.emulators.server import EmulatorServer
from tests.integration.data_collector.conftest import CALENDAR
from tests.integration.data_collector.live import until
from trader.adapters.alpaca.data_stream import AlpacaBarStream, StreamTimings
from trader.adapters.clock import SimulatedClock
from trader.core.market import Timeframe
from trader.core.streams import BarKind, StreamedBar, StreamRejection, StreamState

OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
FAST = StreamTimings(
    reconnect_min_seconds=0.05, reconnect_max_seconds=0.2, refused_retry_seconds=60, answer_timeout_seconds=5
)


class RecordingSink:
    """The collector's side of the port, recorded."""

    def __init__(self) -> None:
        self.connected = 0
        self.bars: list[StreamedBar] = []
        self.rejected: list[tuple[StreamRejection, str]] = []

    async def stream_connected(self) -> None:
        self.connected += 1

    async def stream_bars(self, bars: Sequence[StreamedBar]) -> None:
        self.bars.extend(bars)

    def stream_rejected(self, reason: StreamRejection, message: str) -> None:
        self.rejected.append((reason, message))


def make_stream(
    emulator: AlpacaDataStreamEmulator,
    server: EmulatorServer,
    clock: SimulatedClock,
    *,
    use_msgpack: bool = True,
    secret: str | None = None,
    feed: str = "iex",
) -> AlpacaBarStream:
    return AlpacaBarStream(
        emulator.api_key,
        secret or emulator.secret_key,
        CALENDAR,
        clock,
        feed=feed,
        url=f"ws://127.0.0.1:{server.port}",
        use_msgpack=use_msgpack,
        timings=FAST,
        jitter=lambda: 0.5,
    )


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def start(
    stream: AlpacaBarStream,
    sink: RecordingSink,
    running: list[asyncio.Task[None]],
    symbols: Sequence[str] = ("AAPL",),
) -> None:
    await stream.subscribe(symbols)
    running.append(asyncio.create_task(stream.run(sink)))


@pytest.mark.parametrize("use_msgpack", [True, False], ids=["msgpack", "json"])
async def test_bars_corrections_and_daily_bars_arrive_in_either_encoding(
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
    clock: SimulatedClock,
    running: list[asyncio.Task[None]],
    use_msgpack: bool,
) -> None:
    stream, sink = (
        make_stream(stream_emulator, stream_server, clock, use_msgpack=use_msgpack),
        RecordingSink(),
    )
    await start(stream, sink, running, ["AAPL", "MSFT"])
    await until(lambda: stream.status().state is StreamState.STREAMING, "streaming")
    assert sink.connected == 1 and stream.status().subscribed == 2
    assert stream_emulator.connections()[0].msgpack is use_msgpack
    bar = minute_bars(OPEN, [Decimal("190.10")])[0]
    stream_emulator.emit_bars([("AAPL", bar), ("MSFT", bar)])
    stream_emulator.emit_updated_bars(
        [("AAPL", DataBar(OPEN, bar.open, bar.high, bar.low, Decimal("190.12"), 1500))]
    )
    stream_emulator.emit_daily_bars([("AAPL", bar)])
    await until(lambda: len(sink.bars) == 4, "four bars delivered")
    kinds = [(item.kind, item.candidate.symbol) for item in sink.bars]
    assert kinds == [
        (BarKind.BAR, "AAPL"),
        (BarKind.BAR, "MSFT"),
        (BarKind.UPDATED, "AAPL"),
        (BarKind.DAILY, "AAPL"),
    ]
    first = sink.bars[0].candidate
    # Exactly the decimals sent (a float's shortest form), stamped at the minute's start.
    assert (first.timestamp, first.open, first.close, first.volume, first.timeframe) == (
        OPEN,
        Decimal("190.1"),
        Decimal("190.1"),
        Decimal(1000),
        Timeframe.MINUTE1,
    )
    assert sink.bars[2].candidate.close == Decimal("190.12")
    daily = sink.bars[3].candidate
    assert daily.timeframe is Timeframe.DAY1 and daily.timestamp == OPEN  # midnight NY -> the open
    status = stream.status().as_dict()
    assert status["state"] == "streaming" and status["bars_received"] == {"bar": 2, "updated": 1, "daily": 1}
    assert status["last_message_at"] == clock.now().isoformat()


async def test_wrong_keys_are_refused_without_a_retry_loop(
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
    clock: SimulatedClock,
    running: list[asyncio.Task[None]],
) -> None:
    stream = make_stream(stream_emulator, stream_server, clock, secret="wrong")
    await start(stream, RecordingSink(), running)
    await until(lambda: stream.status().state is StreamState.REFUSED, "refused")
    await asyncio.sleep(0.5)  # many short backoffs would have passed by now
    assert len(stream_emulator.connections()) == 1
    status = stream.status()
    assert status.reason == "refused by Alpaca: auth failed (402)"
    assert status.next_attempt_at is not None and (status.next_attempt_at - clock.now()).total_seconds() == 60


async def test_a_feed_outside_the_plan_is_refused(
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
    clock: SimulatedClock,
    running: list[asyncio.Task[None]],
) -> None:
    stream_emulator.sip_allowed = False
    stream = make_stream(stream_emulator, stream_server, clock, feed="sip")
    await start(stream, RecordingSink(), running)
    await until(lambda: stream.status().state is StreamState.REFUSED, "refused")
    assert stream.status().reason == "refused by Alpaca: insufficient subscription (409)"


async def test_a_second_connection_is_refused_and_the_first_keeps_streaming(
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
    clock: SimulatedClock,
    running: list[asyncio.Task[None]],
) -> None:
    first, first_sink = make_stream(stream_emulator, stream_server, clock), RecordingSink()
    await start(first, first_sink, running)
    await until(lambda: first.status().state is StreamState.STREAMING, "first streaming")
    second = make_stream(stream_emulator, stream_server, clock)
    await start(second, RecordingSink(), running)
    await until(lambda: second.status().state is StreamState.REFUSED, "second refused")
    assert second.status().reason == "refused by Alpaca: connection limit exceeded (406)"
    stream_emulator.emit_bars([("AAPL", minute_bars(OPEN, [Decimal("190.10")])[0])])
    await until(lambda: len(first_sink.bars) == 1, "the first still receives bars")
    assert first.status().state is StreamState.STREAMING


async def test_unreadable_messages_are_counted_with_a_reason_and_the_stream_goes_on(
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
    clock: SimulatedClock,
    running: list[asyncio.Task[None]],
) -> None:
    stream, sink = make_stream(stream_emulator, stream_server, clock), RecordingSink()
    await start(stream, sink, running)
    await until(lambda: stream.status().state is StreamState.STREAMING, "streaming")
    stream_emulator.send_raw(b"\xc1\xc1 not msgpack")
    stream_emulator.send_raw(msgpack.packb({"T": "b"}))  # an object, not an array
    stream_emulator.send_messages(
        [
            {"T": "q", "S": "AAPL", "bp": 1.0},  # a quote: never subscribed
            {"T": "zz"},
            {"T": "b", "S": "AAPL", "o": 1.0, "h": 1.0, "l": 1.0, "c": 1.0, "v": 1},  # no time
            {
                "T": "b",
                "S": "AAPL",
                "t": "2024-01-02T14:30:00Z",
                "o": "1",
                "h": 1.0,
                "l": 1.0,
                "c": 1.0,
                "v": 1,
            },
            # Impossible values are still delivered: validation in the collector rejects them with a reason.
            {
                "T": "b",
                "S": "AAPL",
                "t": "2024-01-02T14:31:00Z",
                "o": math.nan,
                "h": 1.0,
                "l": 2.0,
                "c": 1.0,
                "v": 1,
            },
        ]
    )
    stream_emulator.emit_bars([("AAPL", minute_bars(OPEN, [Decimal("190.10")])[0])])
    await until(lambda: len(sink.bars) == 2, "the bars after the bad messages")
    reasons = [reason for reason, _ in sink.rejected]
    assert reasons == [
        StreamRejection.MALFORMED_MESSAGE,
        StreamRejection.MALFORMED_MESSAGE,
        StreamRejection.UNKNOWN_MESSAGE_TYPE,
        StreamRejection.UNKNOWN_MESSAGE_TYPE,
        StreamRejection.MISSING_FIELD,
        StreamRejection.MISSING_FIELD,
    ]
    assert "'q'" in sink.rejected[2][1] and "no number in ['o']" in sink.rejected[5][1]
    assert sink.bars[0].candidate.open.is_nan() and sink.bars[1].candidate.close == Decimal("190.1")
    assert stream.status().rejected == {"MALFORMED_MESSAGE": 2, "UNKNOWN_MESSAGE_TYPE": 2, "MISSING_FIELD": 2}
    assert stream.status().state is StreamState.STREAMING


async def test_a_dropped_connection_reconnects_and_announces_it(
    stream_emulator: AlpacaDataStreamEmulator,
    stream_server: EmulatorServer,
    clock: SimulatedClock,
    running: list[asyncio.Task[None]],
) -> None:
    stream, sink = make_stream(stream_emulator, stream_server, clock), RecordingSink()
    await start(stream, sink, running)
    await until(lambda: sink.connected == 1, "connected")
    stream_emulator.drop_connections()
    await until(lambda: sink.connected == 2 and stream.status().state is StreamState.STREAMING, "reconnected")
    assert stream.status().connections == 2
    # Changing the symbols while streaming subscribes and unsubscribes on the open connection.
    await stream.subscribe(["MSFT"])
    connection = stream_emulator.open_connections()[0]
    await until(lambda: connection.subscriptions["bars"] == {"MSFT"}, "AAPL unsubscribed, MSFT subscribed")
    await until(lambda: stream.status().subscribed == 1, "the acknowledgement read")
    assert connection.subscriptions["updatedBars"] == {"MSFT"} and connection.subscriptions["dailyBars"] == {
        "MSFT"
    }
