"""Market data values: timeframes and OHLCV bars."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from trader.core.money import to_decimal

SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{0,9}([.\-/][A-Z0-9]{1,4})?$")


class InvalidSymbolError(ValueError):
    pass


def is_aware_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def require_aware_utc(moment: datetime, what: str) -> None:
    """Raise unless `moment` is aware and at UTC: every timestamp in the core is."""
    if not is_aware_utc(moment):
        raise ValueError(f"{what} must be aware UTC, got {moment!r}")


def normalize_symbol(raw: str) -> str:
    """Upper-case a ticker and check its shape (AAPL, BRK.B, BF-B); raise with the reason if malformed."""
    symbol = raw.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise InvalidSymbolError(
            f"malformed symbol {raw!r}: expected 1-10 letters/digits starting with a letter, "
            "optionally a class suffix like BRK.B"
        )
    return symbol


class Timeframe(enum.Enum):
    """Bar lengths. Intraday ones are fixed durations; DAY1 is one NYSE session (early closes included)."""

    MINUTE1 = "1min"
    MINUTE5 = "5min"
    MINUTE15 = "15min"
    MINUTE30 = "30min"
    HOUR1 = "1h"
    DAY1 = "1day"

    @property
    def duration(self) -> timedelta:
        return _DURATIONS[self]

    @property
    def is_intraday(self) -> bool:
        return self is not Timeframe.DAY1

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        key = text.strip().lower()
        for timeframe in cls:
            if timeframe.value == key:
                return timeframe
        alias = _ALIASES.get(key)
        if alias is None:
            allowed = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown timeframe {text!r}; use one of {allowed}")
        return alias


_DURATIONS = {
    Timeframe.MINUTE1: timedelta(minutes=1),
    Timeframe.MINUTE5: timedelta(minutes=5),
    Timeframe.MINUTE15: timedelta(minutes=15),
    Timeframe.MINUTE30: timedelta(minutes=30),
    Timeframe.HOUR1: timedelta(hours=1),
    Timeframe.DAY1: timedelta(days=1),
}
_ALIASES = {
    "1m": Timeframe.MINUTE1,
    "1minute": Timeframe.MINUTE1,
    "5m": Timeframe.MINUTE5,
    "15m": Timeframe.MINUTE15,
    "30m": Timeframe.MINUTE30,
    "60min": Timeframe.HOUR1,
    "1hour": Timeframe.HOUR1,
    "1hr": Timeframe.HOUR1,
    "1d": Timeframe.DAY1,
    "day": Timeframe.DAY1,
    "daily": Timeframe.DAY1,
}


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar. `timestamp` is the aware-UTC start of the bar's interval.

    Prices are raw (as traded that day); `adjustment_factor` multiplies them into the
    split/dividend-adjusted series strategies read by default.
    """

    symbol: str
    timeframe: Timeframe
    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    source: str = "unknown"
    adjustment_factor: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        require_aware_utc(self.timestamp, "bar timestamp")
        for name in ("open", "high", "low", "close", "volume", "adjustment_factor"):
            object.__setattr__(self, name, to_decimal(getattr(self, name)))

    @property
    def end_at(self) -> datetime:
        """Nominal end of the interval (for DAY1 the calendar gives the real close)."""
        return self.timestamp + self.timeframe.duration
