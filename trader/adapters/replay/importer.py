"""Import a user's own bar files (CSV or Parquet) into validated bars.

Columns (case-insensitive, extra columns ignored): symbol, timestamp, open, high, low, close,
volume. A row that cannot be read (unknown symbol shape, unparsable number or time) stops the
import with a `BarFileError` naming the file, the line and the column: a half-understood file
is worse than none. A row that reads fine but breaks a market rule (high below low, outside a
session...) is returned as a rejection with its reason, like any provider's data.

Timestamps: ISO 8601 with an offset (`2024-01-02T14:30:00Z`, `...-05:00`); naive times only
with `assume_timezone` (e.g. "America/New_York"). For daily bars a bare date, or midnight,
means that date's session and is stamped at its open.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trader.core.market import InvalidSymbolError, Timeframe, normalize_symbol
from trader.core.sessions import MarketCalendar
from trader.core.validation import BarCandidate, BatchValidation, validate_batch

COLUMNS = ("symbol", "timestamp", "open", "high", "low", "close", "volume")
_NUMERIC_COLUMNS = ("open", "high", "low", "close", "volume")


class BarFileError(ValueError):
    """A file that cannot be imported as written; the message names the row and what to fix."""


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise BarFileError(f"unknown time zone {name!r}; use an IANA name like America/New_York") from error


def _number(value: object, where: str, column: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise BarFileError(f"{where}: column {column!r} is empty or not a number ({value!r})")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # NaN stays NaN, for the validator to report as NOT_FINITE
    text = str(value).strip()
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BarFileError(f"{where}: column {column!r} is not a number: {text!r}") from None


def _to_timestamp(
    value: object, where: str, timeframe: Timeframe, calendar: MarketCalendar, zone: tzinfo | None
) -> datetime:
    moment: datetime | None = None
    day: date | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
            else:
                moment = datetime.fromisoformat(text)
        except ValueError:
            raise BarFileError(
                f"{where}: timestamp {text!r} is not ISO 8601; write e.g. 2024-01-02T14:30:00Z"
            ) from None
    else:
        raise BarFileError(f"{where}: timestamp is empty or of an unknown type ({value!r})")

    if moment is not None:
        if moment.tzinfo is None:
            if zone is None:
                raise BarFileError(
                    f"{where}: timestamp {moment.isoformat()} has no UTC offset; add one (e.g. 'Z' or "
                    "'-05:00') or pass the file's time zone"
                )
            moment = moment.replace(tzinfo=zone)
        if not timeframe.is_intraday and moment.timetz().replace(tzinfo=None) == time(0):
            day = moment.date()
        else:
            return moment.astimezone(UTC)
    if day is None:
        raise BarFileError(f"{where}: timestamp {value!r} could not be read")
    if timeframe.is_intraday:
        raise BarFileError(f"{where}: a {timeframe.value} bar needs a time of day, got the date {day}")
    session = calendar.session_for(day)
    if session is None:
        # Stamped at UTC midnight so validation reports it as OUTSIDE_SESSION rather than losing it.
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return session.open_at


def _candidates(
    rows: Iterator[tuple[str, Mapping[str, object]]],
    timeframe: Timeframe,
    calendar: MarketCalendar,
    source: str,
    zone: tzinfo | None,
) -> list[BarCandidate]:
    result = []
    for where, row in rows:
        try:
            symbol = normalize_symbol(str(row["symbol"] or ""))
        except InvalidSymbolError as error:
            raise BarFileError(f"{where}: {error}") from None
        numbers = {column: _number(row[column], where, column) for column in _NUMERIC_COLUMNS}
        result.append(
            BarCandidate(
                symbol=symbol,
                timeframe=timeframe,
                timestamp=_to_timestamp(row["timestamp"], where, timeframe, calendar, zone),
                source=source,
                **numbers,
            )
        )
    return result


def _column_map(path: Path, names: list[str]) -> dict[str, str]:
    by_lower = {name.strip().lower(): name for name in names}
    missing = [column for column in COLUMNS if column not in by_lower]
    if missing:
        raise BarFileError(
            f"{path}: missing column(s) {', '.join(missing)}; the header must name {', '.join(COLUMNS)} "
            f"(found {', '.join(names) or 'no header'})"
        )
    return {column: by_lower[column] for column in COLUMNS}


def _csv_rows(path: Path) -> Iterator[tuple[str, Mapping[str, object]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        mapping = _column_map(path, list(reader.fieldnames or []))
        for row in reader:
            where = f"{path} line {reader.line_num}"
            if None in row or any(row[original] is None for original in mapping.values()):
                raise BarFileError(f"{where}: the row has a different number of fields than the header")
            yield where, {column: row[original] for column, original in mapping.items()}


def _parquet_rows(path: Path) -> Iterator[tuple[str, Mapping[str, object]]]:
    try:
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise BarFileError("reading Parquet files needs pyarrow: pip install pyarrow") from error
    table = parquet.read_table(path)
    mapping = _column_map(path, list(table.column_names))
    columns = {column: table.column(original).to_pylist() for column, original in mapping.items()}
    for index in range(table.num_rows):
        yield f"{path} row {index + 1}", {column: values[index] for column, values in columns.items()}


def read_bar_file(
    path: Path | str,
    timeframe: Timeframe,
    calendar: MarketCalendar,
    *,
    source: str | None = None,
    assume_timezone: str | None = None,
) -> list[BarCandidate]:
    """Read a .csv or .parquet file into candidates (not yet validated)."""
    file_path = Path(path)
    if not file_path.is_file():
        raise BarFileError(f"{file_path}: no such file")
    suffix = file_path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(file_path)
    elif suffix in (".parquet", ".pq"):
        rows = _parquet_rows(file_path)
    else:
        raise BarFileError(f"{file_path}: unsupported file type {suffix!r}; use .csv or .parquet")
    return _candidates(rows, timeframe, calendar, source or f"file:{file_path.name}", _zone(assume_timezone))


def import_bar_file(
    path: Path | str,
    timeframe: Timeframe,
    calendar: MarketCalendar,
    *,
    source: str | None = None,
    assume_timezone: str | None = None,
) -> BatchValidation:
    """Read and validate a bar file: `.accepted` bars, `.rejected` rows with reasons, `.counts_by_reason`."""
    candidates = read_bar_file(path, timeframe, calendar, source=source, assume_timezone=assume_timezone)
    return validate_batch(candidates, calendar)
