"""Bar validation rules and gap detection, with the calendar passed in as a session table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from trader.core.market import Bar, Timeframe
from trader.core.sessions import Session, SessionSchedule
from trader.core.validation import (
    BarCandidate,
    RejectionReason,
    check_timestamp,
    find_gaps,
    validate_bar,
    validate_batch,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# AAPL split 2:1 effective 2000-06-21; the two sessions around it (EDT: open 13:30 UTC).
JUNE_20 = Session(date(2000, 6, 20), utc(2000, 6, 20, 13, 30), utc(2000, 6, 20, 20, 0))
JUNE_21 = Session(date(2000, 6, 21), utc(2000, 6, 21, 13, 30), utc(2000, 6, 21, 20, 0))
JUNE_22 = Session(date(2000, 6, 22), utc(2000, 6, 22, 13, 30), utc(2000, 6, 22, 20, 0))
JUNE_23_EARLY = Session(
    date(2000, 6, 23), utc(2000, 6, 23, 13, 30), utc(2000, 6, 23, 17, 0), is_early_close=True
)
JUNE_26 = Session(date(2000, 6, 26), utc(2000, 6, 26, 13, 30), utc(2000, 6, 26, 20, 0))
CALENDAR = SessionSchedule([JUNE_20, JUNE_21, JUNE_22, JUNE_23_EARLY, JUNE_26])


def candidate(
    timestamp: datetime = JUNE_20.open_at,
    timeframe: Timeframe = Timeframe.DAY1,
    *,
    open: str = "10",
    high: str = "11",
    low: str = "9",
    close: str = "10.5",
    volume: str = "1000",
) -> BarCandidate:
    return BarCandidate(
        "AAPL",
        timeframe,
        timestamp,
        Decimal(open),
        Decimal(high),
        Decimal(low),
        Decimal(close),
        Decimal(volume),
    )


def reason_of(bar: BarCandidate) -> RejectionReason | None:
    rejection = validate_bar(bar, CALENDAR)
    return None if rejection is None else rejection.reason


def test_a_consistent_bar_passes() -> None:
    assert validate_bar(candidate(), CALENDAR) is None
    assert reason_of(candidate(open="9", high="9", low="9", close="9", volume="0")) is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"high": "NaN"}, RejectionReason.NOT_FINITE),
        ({"volume": "Infinity"}, RejectionReason.NOT_FINITE),
        ({"low": "0"}, RejectionReason.NON_POSITIVE_PRICE),
        ({"open": "-1", "low": "-2"}, RejectionReason.NON_POSITIVE_PRICE),
        ({"volume": "-5"}, RejectionReason.NEGATIVE_VOLUME),
        ({"high": "8.5"}, RejectionReason.HIGH_BELOW_LOW),
        ({"high": "10.2"}, RejectionReason.HIGH_BELOW_OPEN_CLOSE),
        ({"low": "10.2"}, RejectionReason.LOW_ABOVE_OPEN_CLOSE),
    ],
)
def test_value_rules(fields: dict[str, str], reason: RejectionReason) -> None:
    rejection = validate_bar(candidate(**fields), CALENDAR)  # type: ignore[arg-type]
    assert rejection is not None
    assert rejection.reason is reason
    assert "AAPL 1day bar at 2000-06-20T13:30:00+00:00" in rejection.message


def test_the_message_names_the_offending_values() -> None:
    rejection = validate_bar(candidate(high="10.2"), CALENDAR)
    assert rejection is not None
    assert "high 10.2 is below open 10 or close 10.5" in rejection.message


def test_daily_bars_must_start_at_the_session_open() -> None:
    assert reason_of(candidate(utc(2000, 6, 20))) is RejectionReason.MISALIGNED_TIMESTAMP
    assert reason_of(candidate(utc(2000, 6, 24, 13, 30))) is RejectionReason.OUTSIDE_SESSION


def test_intraday_bars_align_to_minutes_from_the_open_and_stay_inside_the_session() -> None:
    five = Timeframe.MINUTE5
    assert reason_of(candidate(JUNE_21.open_at + timedelta(minutes=385), five)) is None
    assert (
        reason_of(candidate(JUNE_21.open_at + timedelta(minutes=7), five))
        is RejectionReason.MISALIGNED_TIMESTAMP
    )
    assert reason_of(candidate(JUNE_21.open_at + timedelta(seconds=30), Timeframe.MINUTE1)) is (
        RejectionReason.MISALIGNED_TIMESTAMP
    )
    assert reason_of(candidate(JUNE_21.close_at, five)) is RejectionReason.OUTSIDE_SESSION
    assert (
        reason_of(candidate(JUNE_21.open_at - timedelta(minutes=5), five)) is RejectionReason.OUTSIDE_SESSION
    )
    # the early close shortens the session: 16:55 UTC is the last 5-minute bar, 17:00 is outside
    assert reason_of(candidate(utc(2000, 6, 23, 16, 55), five)) is None
    assert reason_of(candidate(utc(2000, 6, 23, 17, 0), five)) is RejectionReason.OUTSIDE_SESSION


def test_check_timestamp_takes_the_session_as_a_value() -> None:
    bar = candidate(JUNE_21.open_at + timedelta(minutes=1), Timeframe.MINUTE1)
    assert check_timestamp(bar, JUNE_21) is None
    rejection = check_timestamp(bar, None)
    assert rejection is not None and rejection.reason is RejectionReason.OUTSIDE_SESSION


def test_a_split_day_is_not_rejected() -> None:
    # Real AAPL rows around the 2:1 split: the price halves overnight.
    before = candidate(
        JUNE_20.open_at, open="98.5", high="103.94", low="98.37", close="101.25", volume="4476700"
    )
    split = candidate(
        JUNE_21.open_at, open="50.5", high="56.94", low="50.31", close="55.63", volume="4375000"
    )
    result = validate_batch([before, split], CALENDAR)
    assert result.rejected_count == 0
    assert [bar.close for bar in result.accepted] == [Decimal("101.25"), Decimal("55.63")]


def test_batch_splits_and_counts_by_reason() -> None:
    good = candidate(JUNE_20.open_at)
    batch = [
        good,
        candidate(JUNE_21.open_at, high="NaN"),
        candidate(JUNE_22.open_at, volume="-1"),
        candidate(JUNE_23_EARLY.open_at, volume="-2"),
        candidate(JUNE_20.open_at, close="10.7"),
    ]
    result = validate_batch(batch, CALENDAR)
    assert result.accepted == (good.to_bar(),)
    assert isinstance(result.accepted[0], Bar)
    assert result.counts_by_reason == {
        RejectionReason.NOT_FINITE: 1,
        RejectionReason.NEGATIVE_VOLUME: 2,
        RejectionReason.DUPLICATE_TIMESTAMP: 1,
    }
    assert [item.candidate for item in result.rejected] == batch[1:]


def test_gaps_list_missing_bars_and_empty_sessions() -> None:
    sessions = CALENDAR.sessions
    stored = [JUNE_20.open_at, JUNE_22.open_at]
    report = find_gaps(stored, sessions, Timeframe.DAY1)
    assert report.expected_count == 5
    assert report.missing_at == (JUNE_21.open_at, JUNE_23_EARLY.open_at, JUNE_26.open_at)
    assert report.missing_sessions == (date(2000, 6, 21), date(2000, 6, 23), date(2000, 6, 26))


def test_intraday_gaps_follow_the_early_close() -> None:
    hourly_stored = [utc(2000, 6, 23, 13, 30), utc(2000, 6, 23, 15, 30)]
    report = find_gaps(hourly_stored, [JUNE_23_EARLY], Timeframe.HOUR1)
    assert report.expected_count == 4  # 13:30, 14:30, 15:30, 16:30 (cut at 17:00)
    assert report.missing_at == (utc(2000, 6, 23, 14, 30), utc(2000, 6, 23, 16, 30))
    assert report.missing_sessions == ()
