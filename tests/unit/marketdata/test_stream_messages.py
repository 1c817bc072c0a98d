"""Stream messages decoded without a socket: timestamps in both encodings, daily bars moved to the
session open, and the reconnect backoff (exponential, capped, jittered)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import msgpack
import pytest

from trader.adapters.alpaca.stream_messages import decode_frame
from trader.adapters.calendar import XNYSCalendar
from trader.core.streams import BarKind, StreamRejection, reconnect_delay

CALENDAR = XNYSCalendar()


def test_nanosecond_json_timestamps_and_msgpack_timestamps_read_alike() -> None:
    message = {"T": "b", "S": "aapl", "o": 1.5, "h": 2, "l": 1, "c": 1.75, "v": 300}
    as_json = decode_frame(json.dumps([{**message, "t": "2024-01-02T14:30:00.123456789Z"}]), CALENDAR)
    stamp = msgpack.Timestamp.from_datetime(datetime(2024, 1, 2, 14, 30, 0, 123456, tzinfo=UTC))
    as_msgpack = decode_frame(msgpack.packb([{**message, "t": stamp}]), CALENDAR)
    for decoded in (as_json, as_msgpack):
        (bar,) = decoded.bars
        assert bar.kind is BarKind.BAR and bar.candidate.symbol == "AAPL"
        assert bar.candidate.timestamp == datetime(2024, 1, 2, 14, 30, 0, 123456, tzinfo=UTC)
        assert (bar.candidate.high, bar.candidate.close) == (Decimal(2), Decimal("1.75"))


def test_a_daily_bar_stamped_at_midnight_new_york_starts_at_the_open() -> None:
    frame = json.dumps(
        [{"T": "d", "S": "IBM", "t": "2024-07-03T04:00:00Z", "o": 1, "h": 1, "l": 1, "c": 1, "v": 1}]
    )
    (bar,) = decode_frame(frame, CALENDAR).bars
    assert bar.candidate.timestamp == datetime(2024, 7, 3, 13, 30, tzinfo=UTC)  # an early-close day


def test_a_bool_is_not_a_price() -> None:
    frame = json.dumps(
        [{"T": "b", "S": "IBM", "t": "2024-07-03T14:00:00Z", "o": True, "h": 1, "l": 1, "c": 1, "v": 1}]
    )
    (rejected,) = decode_frame(frame, CALENDAR).rejected
    assert rejected.reason is StreamRejection.MISSING_FIELD


def test_reconnect_delay_grows_caps_and_spreads() -> None:
    assert [reconnect_delay(n, 1.0, 60.0, 0.0) for n in (1, 2, 3, 7, 8, 50)] == [
        0.5,
        1.0,
        2.0,
        30.0,
        30.0,
        30.0,
    ]
    assert reconnect_delay(3, 1.0, 60.0, 0.999) == pytest.approx(3.998)
    with pytest.raises(ValueError, match="attempt"):
        reconnect_delay(0, 1.0, 60.0, 0.0)
    with pytest.raises(ValueError, match="jitter"):
        reconnect_delay(1, 1.0, 60.0, 1.0)
