"""Aggregation along sessions: a hand-built case, an early close, and pandas resample on a normal day."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from trader.core.aggregation import BarArrays, aggregate_arrays, aggregate_bars, to_epoch_ns
from trader.core.market import Bar, Timeframe
from trader.core.sessions import Session, SessionSchedule


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


NORMAL = Session(date(2024, 11, 27), utc(2024, 11, 27, 14, 30), utc(2024, 11, 27, 21, 0))
EARLY = Session(date(2024, 11, 29), utc(2024, 11, 29, 14, 30), utc(2024, 11, 29, 18, 0), is_early_close=True)
CALENDAR = SessionSchedule([NORMAL, EARLY])


def minute(at: datetime, open: str, high: str, low: str, close: str, volume: int) -> Bar:
    return Bar(
        "MSFT",
        Timeframe.MINUTE1,
        at,
        Decimal(open),
        Decimal(high),
        Decimal(low),
        Decimal(close),
        Decimal(volume),
    )


def random_minutes(session: Session, seed: int) -> list[Bar]:
    rng = np.random.default_rng(seed)
    count = int(session.duration / timedelta(minutes=1))
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    opens = np.concatenate(([100.0], closes[:-1]))
    highs = np.maximum(opens, closes) * (1 + rng.uniform(0, 0.001, count))
    lows = np.minimum(opens, closes) * (1 - rng.uniform(0, 0.001, count))
    volumes = rng.integers(100, 10_000, count)
    return [
        minute(
            session.open_at + timedelta(minutes=index),
            f"{opens[index]:.4f}",
            f"{highs[index]:.4f}",
            f"{lows[index]:.4f}",
            f"{closes[index]:.4f}",
            int(volumes[index]),
        )
        for index in range(count)
    ]


def test_hand_built_five_minute_bar() -> None:
    at = NORMAL.open_at
    bars = [
        minute(at, "10", "10.5", "9.9", "10.2", 100),
        minute(at + timedelta(minutes=1), "10.2", "11", "10.1", "10.9", 200),
        minute(at + timedelta(minutes=2), "10.9", "10.95", "9.5", "9.6", 300),
        minute(at + timedelta(minutes=4), "9.6", "9.8", "9.55", "9.7", 50),  # minute 3 is missing
        minute(at + timedelta(minutes=5), "9.7", "9.9", "9.6", "9.8", 70),
    ]
    first, second = aggregate_bars(bars, Timeframe.MINUTE5, CALENDAR)
    assert first == Bar(
        "MSFT",
        Timeframe.MINUTE5,
        at,
        Decimal("10"),
        Decimal("11"),
        Decimal("9.5"),
        Decimal("9.7"),
        Decimal(650),
        source="aggregated",
    )
    assert second.timestamp == at + timedelta(minutes=5)
    assert (second.open, second.close, second.volume) == (Decimal("9.7"), Decimal("9.8"), Decimal(70))


def test_hourly_buckets_start_at_half_past_and_the_early_close_truncates() -> None:
    bars = random_minutes(EARLY, seed=3)
    hourly = aggregate_bars(bars, Timeframe.HOUR1, CALENDAR)
    assert [bar.timestamp for bar in hourly] == [utc(2024, 11, 29, hour, 30) for hour in (14, 15, 16, 17)]
    last_bucket = [bar for bar in bars if bar.timestamp >= utc(2024, 11, 29, 17, 30)]
    assert len(last_bucket) == 30
    assert hourly[-1].close == last_bucket[-1].close
    assert hourly[-1].volume == sum(bar.volume for bar in last_bucket)
    daily = aggregate_bars(bars, Timeframe.DAY1, CALENDAR)
    assert len(daily) == 1 and daily[0].timestamp == EARLY.open_at
    assert daily[0].high == max(bar.high for bar in bars)


def test_two_sessions_never_share_a_daily_bucket() -> None:
    bars = random_minutes(NORMAL, seed=1) + random_minutes(EARLY, seed=2)
    daily = aggregate_bars(bars, Timeframe.DAY1, CALENDAR)
    assert [bar.timestamp for bar in daily] == [NORMAL.open_at, EARLY.open_at]
    assert sum(bar.volume for bar in daily) == sum(bar.volume for bar in bars)


@pytest.mark.parametrize(
    "target", [Timeframe.MINUTE5, Timeframe.MINUTE15, Timeframe.MINUTE30, Timeframe.HOUR1]
)
def test_matches_pandas_resample_on_a_normal_day(target: Timeframe) -> None:
    bars = random_minutes(NORMAL, seed=7)
    frame = pd.DataFrame(
        {
            "open": [float(bar.open) for bar in bars],
            "high": [float(bar.high) for bar in bars],
            "low": [float(bar.low) for bar in bars],
            "close": [float(bar.close) for bar in bars],
            "volume": [float(bar.volume) for bar in bars],
        },
        index=pd.DatetimeIndex([bar.timestamp for bar in bars]),
    )
    expected = frame.resample(
        target.duration, origin=pd.Timestamp(NORMAL.open_at), closed="left", label="left"
    ).agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    ours = aggregate_bars(bars, target, CALENDAR)
    assert [bar.timestamp for bar in ours] == [moment.to_pydatetime() for moment in expected.index]
    for column in ("open", "high", "low", "close", "volume"):
        assert [float(getattr(bar, column)) for bar in ours] == expected[column].tolist()

    arrays = BarArrays(
        start_ns=np.array([to_epoch_ns(bar.timestamp) for bar in bars], dtype=np.int64),
        open=frame["open"].to_numpy(),
        high=frame["high"].to_numpy(),
        low=frame["low"].to_numpy(),
        close=frame["close"].to_numpy(),
        volume=frame["volume"].to_numpy(),
    )
    kernel = aggregate_arrays(arrays, CALENDAR.sessions, target)
    assert kernel.start_ns.tolist() == [to_epoch_ns(moment.to_pydatetime()) for moment in expected.index]
    for column in ("open", "high", "low", "close", "volume"):
        assert getattr(kernel, column).tolist() == expected[column].tolist()


def test_kernel_cuts_buckets_at_session_boundaries() -> None:
    bars = random_minutes(NORMAL, seed=4) + random_minutes(EARLY, seed=5)
    arrays = BarArrays(
        start_ns=np.array([to_epoch_ns(bar.timestamp) for bar in bars], dtype=np.int64),
        open=np.array([float(bar.open) for bar in bars]),
        high=np.array([float(bar.high) for bar in bars]),
        low=np.array([float(bar.low) for bar in bars]),
        close=np.array([float(bar.close) for bar in bars]),
        volume=np.array([float(bar.volume) for bar in bars]),
    )
    hourly = aggregate_arrays(arrays, CALENDAR.sessions, Timeframe.HOUR1)
    assert len(hourly) == 7 + 4
    exact = aggregate_bars(bars, Timeframe.HOUR1, CALENDAR)
    assert hourly.start_ns.tolist() == [to_epoch_ns(bar.timestamp) for bar in exact]
    assert hourly.close.tolist() == [float(bar.close) for bar in exact]


def test_refuses_bars_outside_sessions_and_bad_targets() -> None:
    stray = minute(utc(2024, 11, 27, 21, 0), "1", "1", "1", "1", 1)
    with pytest.raises(ValueError, match="outside every session"):
        aggregate_bars([stray], Timeframe.MINUTE5, CALENDAR)
    inside = minute(NORMAL.open_at, "1", "1", "1", "1", 1)
    with pytest.raises(ValueError, match="not a whole multiple"):
        aggregate_bars([replace(inside, timeframe=Timeframe.MINUTE5)], Timeframe.MINUTE1, CALENDAR)
