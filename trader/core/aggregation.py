"""Aggregate base (1-minute) bars into higher timeframes along exchange sessions.

Buckets are anchored at each session's open (09:30 ET), never at the clock hour, and the last
bucket of an early-close day is cut at the close; a daily bar is one whole session. Two forms:
`aggregate_bars` keeps Decimal prices exact for the stores and services, and `aggregate_arrays`
is the float64 kernel for the backtester.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from trader.core.market import Bar, Timeframe
from trader.core.sessions import MarketCalendar, Session, bucket_start

AGGREGATED_SOURCE = "aggregated"


def _check_target(source: Timeframe, target: Timeframe) -> None:
    if not source.is_intraday:
        raise ValueError(f"cannot aggregate from {source.value}: only intraday bars can be aggregated")
    if target.is_intraday and (
        target.duration < source.duration or target.duration % source.duration != timedelta(0)
    ):
        raise ValueError(f"{target.value} is not a whole multiple of {source.value}")


def aggregate_bars(bars: Iterable[Bar], target: Timeframe, calendar: MarketCalendar) -> list[Bar]:
    """Aggregate one symbol's bars, sorted by time, into `target` bars (open first, high max, low min,
    close last, volume summed). A bucket holds whatever bars exist: a gap shortens it, never fills it.
    A bar outside every session is a broken invariant (validate first) and raises.
    """
    result: list[Bar] = []
    current_key: tuple[str, datetime] | None = None
    group: list[Bar] = []
    session: Session | None = None
    for bar in bars:
        _check_target(bar.timeframe, target)
        if session is None or not session.contains(bar.timestamp):
            session = calendar.session_for(bar.timestamp)
            if session is None:
                raise ValueError(f"{bar.symbol} bar at {bar.timestamp.isoformat()} is outside every session")
        key = (bar.symbol, bucket_start(session, bar.timestamp, target))
        if current_key is not None and key != current_key:
            if key[0] == current_key[0] and key[1] < current_key[1]:
                raise ValueError(f"{bar.symbol} bars are not in time order at {bar.timestamp.isoformat()}")
            result.append(_merge(group, target, current_key[1]))
            group = []
        current_key = key
        group.append(bar)
    if group and current_key is not None:
        result.append(_merge(group, target, current_key[1]))
    return result


def _merge(group: Sequence[Bar], target: Timeframe, start_at: datetime) -> Bar:
    first, last = group[0], group[-1]
    return Bar(
        symbol=first.symbol,
        timeframe=target,
        timestamp=start_at,
        open=first.open,
        high=max(bar.high for bar in group),
        low=min(bar.low for bar in group),
        close=last.close,
        volume=sum((bar.volume for bar in group), start=first.volume * 0),
        source=AGGREGATED_SOURCE,
        # Adjustment factors change only between sessions, so the last bar's holds for the bucket.
        adjustment_factor=last.adjustment_factor,
    )


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Column arrays of bars; `start_ns` is nanoseconds since the Unix epoch (UTC)."""

    start_ns: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])


def to_epoch_ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def from_epoch_ns(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value // 1_000)


def bucket_starts_ns(start_ns: IntArray, sessions: Sequence[Session], target: Timeframe) -> IntArray:
    """The bucket start of each timestamp (sorted); a timestamp outside every session raises."""
    opens = np.array([to_epoch_ns(session.open_at) for session in sessions], dtype=np.int64)
    closes = np.array([to_epoch_ns(session.close_at) for session in sessions], dtype=np.int64)
    index = np.searchsorted(opens, start_ns, side="right") - 1
    outside = (index < 0) | (start_ns >= closes[np.clip(index, 0, None)])
    if outside.any():
        first = int(start_ns[np.argmax(outside)])
        raise ValueError(f"bar at {from_epoch_ns(first).isoformat()} is outside the given sessions")
    session_open = opens[index]
    if not target.is_intraday:
        return session_open
    step = int(target.duration.total_seconds()) * 1_000_000_000
    result: IntArray = session_open + ((start_ns - session_open) // step) * step
    return result


def aggregate_arrays(bars: BarArrays, sessions: Sequence[Session], target: Timeframe) -> BarArrays:
    """The float64 form of `aggregate_bars` for one symbol, bars sorted by time, sessions sorted."""
    if len(bars) == 0:
        return bars
    if np.any(np.diff(bars.start_ns) <= 0):
        raise ValueError("bar timestamps must be strictly increasing")
    keys = bucket_starts_ns(bars.start_ns, sessions, target)
    boundaries = np.flatnonzero(np.diff(keys)) + 1
    firsts = np.concatenate(([0], boundaries))
    lasts = np.concatenate((boundaries - 1, [len(bars) - 1]))
    return BarArrays(
        start_ns=keys[firsts],
        open=bars.open[firsts],
        high=np.maximum.reduceat(bars.high, firsts),
        low=np.minimum.reduceat(bars.low, firsts),
        close=bars.close[lasts],
        volume=np.add.reduceat(bars.volume, firsts),
    )
