"""Importing users' CSV and Parquet files: good rows, rule-breaking rows, and unreadable files."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.replay import BarFileError, import_bar_file, read_bar_file
from trader.core.market import Timeframe
from trader.core.validation import RejectionReason


@pytest.fixture(scope="module")
def calendar() -> XNYSCalendar:
    return XNYSCalendar()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_minute_bars_with_offsets(tmp_path: Path, calendar: XNYSCalendar) -> None:
    path = write(
        tmp_path / "minutes.csv",
        "Symbol,Timestamp,Open,High,Low,Close,Volume,extra\n"
        "aapl,2024-11-29T14:30:00Z,100,101,99.5,100.5,1200,x\n"
        "AAPL,2024-11-29T09:31:00-05:00,100.5,100.75,100.25,100.5,800,y\n"
        "AAPL,2024-11-29T18:00:00Z,100.5,100.75,100.25,100.5,800,after the early close\n"
        "AAPL,2024-11-29T14:33:00Z,100.5,100.25,100.25,100.5,800,high below open\n",
    )
    result = import_bar_file(path, Timeframe.MINUTE1, calendar)
    assert [bar.timestamp for bar in result.accepted] == [
        datetime(2024, 11, 29, 14, 30, tzinfo=UTC),
        datetime(2024, 11, 29, 14, 31, tzinfo=UTC),
    ]
    assert result.accepted[0].symbol == "AAPL"
    assert result.accepted[0].low == Decimal("99.5")
    assert result.accepted[0].source == "file:minutes.csv"
    assert result.counts_by_reason == {
        RejectionReason.OUTSIDE_SESSION: 1,
        RejectionReason.HIGH_BELOW_OPEN_CLOSE: 1,
    }


def test_daily_csv_accepts_dates_and_flags_holidays(tmp_path: Path, calendar: XNYSCalendar) -> None:
    path = write(
        tmp_path / "daily.csv",
        "symbol,timestamp,open,high,low,close,volume\n"
        "MSFT,2024-07-03,10,11,9,10,100\n"
        "MSFT,2024-07-04,10,11,9,10,100\n"
        "MSFT,2024-07-05 00:00:00+00:00,10,11,9,10,100\n"
        "MSFT,2024-07-08T13:30:00Z,10,11,9,10,100\n"
        "MSFT,2024-07-09T16:00:00Z,10,11,9,NaN,100\n",
    )
    result = import_bar_file(path, Timeframe.DAY1, calendar)
    assert [bar.timestamp.day for bar in result.accepted] == [3, 5, 8]
    assert result.accepted[0].timestamp == datetime(2024, 7, 3, 13, 30, tzinfo=UTC)
    reasons = [item.rejection.reason for item in result.rejected]
    assert reasons == [RejectionReason.OUTSIDE_SESSION, RejectionReason.NOT_FINITE]


def test_naive_times_need_a_time_zone(tmp_path: Path, calendar: XNYSCalendar) -> None:
    path = write(
        tmp_path / "naive.csv",
        "symbol,timestamp,open,high,low,close,volume\nIBM,2024-03-11 09:30:00,1,1,1,1,5\n",
    )
    with pytest.raises(
        BarFileError, match=r"naive.csv line 2: timestamp 2024-03-11T09:30:00 has no UTC offset"
    ):
        read_bar_file(path, Timeframe.MINUTE1, calendar)
    # 09:30 New York time is 13:30 UTC once daylight-saving time has started (2024-03-10).
    bars = read_bar_file(path, Timeframe.MINUTE1, calendar, assume_timezone="America/New_York")
    assert bars[0].timestamp == datetime(2024, 3, 11, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("IBM,2024-03-11T13:30:00Z,1,abc,1,1,5\n", r"line 3: column 'high' is not a number: 'abc'"),
        ("IBM!,2024-03-11T13:30:00Z,1,1,1,1,5\n", r"line 3: malformed symbol 'IBM!'"),
        ("IBM,11/03/2024 13:30,1,1,1,1,5\n", r"line 3: timestamp '11/03/2024 13:30' is not ISO 8601"),
        ("IBM,2024-03-11T13:30:00Z,1,1,1\n", r"line 3: the row has a different number of fields"),
    ],
)
def test_unreadable_rows_name_the_line(
    tmp_path: Path, calendar: XNYSCalendar, rows: str, message: str
) -> None:
    header_and_good = "symbol,timestamp,open,high,low,close,volume\nIBM,2024-03-11T13:31:00Z,1,1,1,1,5\n"
    path = write(tmp_path / "bad.csv", header_and_good + rows)
    with pytest.raises(BarFileError, match=message):
        read_bar_file(path, Timeframe.MINUTE1, calendar)


def test_missing_columns_and_types(tmp_path: Path, calendar: XNYSCalendar) -> None:
    path = write(tmp_path / "cols.csv", "symbol,time,open,high,low,close\nIBM,x,1,1,1,1\n")
    with pytest.raises(BarFileError, match="missing column\\(s\\) timestamp, volume"):
        read_bar_file(path, Timeframe.MINUTE1, calendar)
    with pytest.raises(BarFileError, match=r"unsupported file type '\.txt'"):
        read_bar_file(write(tmp_path / "bars.txt", ""), Timeframe.MINUTE1, calendar)
    with pytest.raises(BarFileError, match="a 1min bar needs a time of day"):
        read_bar_file(
            write(
                tmp_path / "d.csv", "symbol,timestamp,open,high,low,close,volume\nIBM,2024-03-11,1,1,1,1,5\n"
            ),
            Timeframe.MINUTE1,
            calendar,
        )


def test_parquet_with_native_types(tmp_path: Path, calendar: XNYSCalendar) -> None:
    table = pa.table(
        {
            "symbol": ["SPY", "SPY", "SPY"],
            "timestamp": pa.array(
                [
                    datetime(2024, 3, 11, 13, 30, tzinfo=UTC),
                    datetime(2024, 3, 11, 13, 35, tzinfo=UTC),
                    datetime(2024, 3, 11, 13, 37, tzinfo=UTC),
                ],
                type=pa.timestamp("ns", tz="UTC"),
            ),
            "open": [510.25, 510.5, 510.0],
            "high": [511.0, 511.0, 511.0],
            "low": [510.0, 510.25, 509.0],
            "close": [510.5, 510.75, 510.0],
            "volume": [1_000_000, -5, 10],
        }
    )
    path = tmp_path / "spy.parquet"
    pq.write_table(table, path)
    result = import_bar_file(path, Timeframe.MINUTE5, calendar)
    assert len(result.accepted) == 1
    assert result.accepted[0].open == Decimal("510.25")
    assert [item.rejection.reason for item in result.rejected] == [
        RejectionReason.NEGATIVE_VOLUME,
        RejectionReason.MISALIGNED_TIMESTAMP,
    ]

    bad = pa.table(
        {
            **{name: table.column(name) for name in table.column_names if name != "close"},
            "close": ["1", "x", "2"],
        }
    )
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(BarFileError, match=r"bad.parquet row 2: column 'close' is not a number: 'x'"):
        read_bar_file(tmp_path / "bad.parquet", Timeframe.MINUTE5, calendar)
