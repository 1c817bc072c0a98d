"""Frames of Alpaca's market-data websocket, decoded: control messages, bars, and what cannot be used.

Every frame is an array of objects keyed by `T`. Control messages (`success`, `error`,
`subscription`) arrive alone; data messages in arrays of one or more. Frames are JSON text, or
MessagePack binary when the client asked for it (then `t` is a MessagePack timestamp instead of an
RFC-3339 string). Bars (`b`), updated bars (`u`) and daily bars (`d`) carry `S` (symbol), `o h l c`
(prices), `v` (volume), `t` (the start of the interval), `n` and `vw` (not kept).

Nothing here judges a bar's values: a NaN or a high below the low becomes a `BarCandidate` like any
other, and the collector's validation rejects it with its reason. Here a message is refused only when
it cannot be read at all (the frame is not JSON or MessagePack, the type is unknown, a field is
missing or of the wrong kind).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgpack

from trader.core.market import Timeframe
from trader.core.sessions import MarketCalendar
from trader.core.streams import BarKind, StreamedBar, StreamRejection
from trader.core.validation import BarCandidate

PROVIDER = "alpaca"
NEW_YORK = ZoneInfo("America/New_York")
BAR_KINDS = {"b": BarKind.BAR, "u": BarKind.UPDATED, "d": BarKind.DAILY}
CONTROL_TYPES = frozenset({"success", "error", "subscription"})
_FRACTION = re.compile(r"(\.\d{6})\d+")


class FrameError(ValueError):
    """A frame that is not an array of objects in the expected encoding."""


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: StreamRejection
    message: str


@dataclass(slots=True)
class DecodedFrame:
    control: list[dict[str, Any]] = field(default_factory=list)
    bars: list[StreamedBar] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def encode(message: dict[str, Any], *, use_msgpack: bool) -> bytes | str:
    if use_msgpack:
        packed: bytes = msgpack.packb(message)
        return packed
    return json.dumps(message, separators=(",", ":"))


def decode_messages(frame: bytes | str) -> list[dict[str, Any]]:
    """The objects of one frame; raise FrameError when it is not an array of objects."""
    try:
        payload = msgpack.unpackb(frame, timestamp=0) if isinstance(frame, bytes) else json.loads(frame)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
        raise FrameError(f"unreadable frame ({type(error).__name__}: {str(error)[:120]})") from None
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise FrameError(f"a frame must be an array of objects, got {type(payload).__name__}")
    return payload


def decode_frame(frame: bytes | str, calendar: MarketCalendar) -> DecodedFrame:
    decoded = DecodedFrame()
    try:
        messages = decode_messages(frame)
    except FrameError as error:
        decoded.rejected.append(Rejected(StreamRejection.MALFORMED_MESSAGE, str(error)))
        return decoded
    for message in messages:
        kind = message.get("T")
        if kind in CONTROL_TYPES:
            decoded.control.append(message)
        elif kind in BAR_KINDS:
            parsed = parse_bar(message, calendar)
            if isinstance(parsed, Rejected):
                decoded.rejected.append(parsed)
            else:
                decoded.bars.append(parsed)
        else:
            decoded.rejected.append(
                Rejected(StreamRejection.UNKNOWN_MESSAGE_TYPE, f"message type {str(kind)[:20]!r} is not used")
            )
    return decoded


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # repr keeps the float's shortest decimal form (190.1, not 190.09999999999999431566).
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, msgpack.Timestamp):
        stamped: datetime = value.to_datetime()
        return stamped.astimezone(UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def _daily_start(moment: datetime, calendar: MarketCalendar) -> datetime:
    """Alpaca stamps daily bars at midnight New York; ours start at the session's open."""
    day = moment.astimezone(NEW_YORK).date()
    session = calendar.session_for(day)
    return session.open_at if session is not None else moment


def parse_bar(message: dict[str, Any], calendar: MarketCalendar) -> StreamedBar | Rejected:
    kind = BAR_KINDS[str(message["T"])]
    symbol = message.get("S")
    if not isinstance(symbol, str) or not symbol.strip():
        return Rejected(StreamRejection.MISSING_FIELD, f"{kind.value} message without a symbol (S)")
    moment = _moment(message.get("t"))
    if moment is None:
        return Rejected(StreamRejection.MISSING_FIELD, f"{symbol} {kind.value}: no readable time (t)")
    numbers = {name: _number(message.get(name)) for name in ("o", "h", "l", "c", "v")}
    values = {name: value for name, value in numbers.items() if value is not None}
    if len(values) < len(numbers):
        missing = sorted(set(numbers) - set(values))
        return Rejected(
            StreamRejection.MISSING_FIELD,
            f"{symbol} {kind.value} at {moment.isoformat()}: no number in {missing}",
        )
    daily = kind is BarKind.DAILY
    candidate = BarCandidate(
        symbol=symbol.strip().upper(),
        timeframe=Timeframe.DAY1 if daily else Timeframe.MINUTE1,
        timestamp=_daily_start(moment, calendar) if daily else moment,
        open=values["o"],
        high=values["h"],
        low=values["l"],
        close=values["c"],
        volume=values["v"],
        source=PROVIDER,
    )
    return StreamedBar(kind, candidate)
