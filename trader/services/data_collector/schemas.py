"""Request bodies and query parsing of the data collector API."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, Field, field_validator

from trader.core.market import InvalidSymbolError, Timeframe, normalize_symbol

MAX_SYMBOLS_PER_REQUEST = 500


def parse_moment(text: str | None, name: str) -> datetime | None:
    """ISO date (midnight UTC) or ISO datetime with an offset; raise ValueError saying what to send."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{name}={value!r} is not an ISO 8601 date or time; send e.g. 2024-01-02 or 2024-01-02T14:30:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{name}={value!r} has no UTC offset; add 'Z' or e.g. '-05:00'")
    return moment.astimezone(UTC)


def parse_timeframe(text: str) -> Timeframe:
    return Timeframe.parse(text)


def parse_symbols(values: list[str]) -> list[str]:
    symbols = []
    for raw in values:
        try:
            symbols.append(normalize_symbol(raw))
        except InvalidSymbolError as error:
            raise ValueError(str(error)) from None
    return list(dict.fromkeys(symbols))


class CollectRequest(BaseModel):
    """POST /data/collect: backfill `symbols` (default: the watchlist) over [start, end)."""

    symbols: list[str] | None = Field(default=None, max_length=MAX_SYMBOLS_PER_REQUEST)
    timeframe: str | None = None
    start: str | None = None
    end: str | None = None
    force: bool = False
    background: bool | None = None

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else parse_symbols(value)

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str | None) -> str | None:
        return None if value is None else parse_timeframe(value).value

    @field_validator("start", "end")
    @classmethod
    def _moment(cls, value: str | None) -> str | None:
        moment = parse_moment(value, "date")
        return None if moment is None else moment.isoformat()


class WatchlistChange(BaseModel):
    symbols: list[str] = Field(min_length=1, max_length=MAX_SYMBOLS_PER_REQUEST)

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        return parse_symbols(value)
