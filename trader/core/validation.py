"""Bar validation and gap detection, pure.

Incoming data arrives as `BarCandidate`s (unchecked; a NaN can still be in them) and leaves as
`Bar`s or as rejections with a coded reason. Only rules that hold for every genuine bar are
checked: nothing compares a bar with the previous one, so a split day (the price halves
overnight) is accepted like any other day.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from trader.core.market import Bar, Timeframe, require_aware_utc
from trader.core.sessions import MarketCalendar, Session, bar_starts


class RejectionReason(enum.Enum):
    NOT_FINITE = "NOT_FINITE"
    NON_POSITIVE_PRICE = "NON_POSITIVE_PRICE"
    NEGATIVE_VOLUME = "NEGATIVE_VOLUME"
    HIGH_BELOW_LOW = "HIGH_BELOW_LOW"
    HIGH_BELOW_OPEN_CLOSE = "HIGH_BELOW_OPEN_CLOSE"
    LOW_ABOVE_OPEN_CLOSE = "LOW_ABOVE_OPEN_CLOSE"
    OUTSIDE_SESSION = "OUTSIDE_SESSION"
    MISALIGNED_TIMESTAMP = "MISALIGNED_TIMESTAMP"
    DUPLICATE_TIMESTAMP = "DUPLICATE_TIMESTAMP"


class BarLike(Protocol):
    """What validation reads: satisfied by `Bar` and by `BarCandidate`."""

    @property
    def symbol(self) -> str: ...
    @property
    def timeframe(self) -> Timeframe: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def open(self) -> Decimal: ...
    @property
    def high(self) -> Decimal: ...
    @property
    def low(self) -> Decimal: ...
    @property
    def close(self) -> Decimal: ...
    @property
    def volume(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class BarCandidate:
    """A bar as received, before validation: values may be NaN or infinite; the timestamp is aware UTC."""

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

    def to_bar(self) -> Bar:
        return Bar(
            symbol=self.symbol,
            timeframe=self.timeframe,
            timestamp=self.timestamp,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            source=self.source,
            adjustment_factor=self.adjustment_factor,
        )


@dataclass(frozen=True, slots=True)
class BarRejection:
    reason: RejectionReason
    message: str


def _describe(bar: BarLike) -> str:
    return f"{bar.symbol} {bar.timeframe.value} bar at {bar.timestamp.isoformat()}"


def check_values(bar: BarLike) -> BarRejection | None:
    """The price/volume rules alone (no calendar): None when the values are consistent."""
    values = {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close, "volume": bar.volume}
    not_finite = [name for name, value in values.items() if not value.is_finite()]
    if not_finite:
        return BarRejection(
            RejectionReason.NOT_FINITE, f"{_describe(bar)}: {', '.join(not_finite)} is not a finite number"
        )
    non_positive = [name for name in ("open", "high", "low", "close") if values[name] <= 0]
    if non_positive:
        shown = ", ".join(f"{name}={values[name]}" for name in non_positive)
        return BarRejection(
            RejectionReason.NON_POSITIVE_PRICE, f"{_describe(bar)}: prices must be > 0 ({shown})"
        )
    if bar.volume < 0:
        return BarRejection(
            RejectionReason.NEGATIVE_VOLUME, f"{_describe(bar)}: volume {bar.volume} is negative"
        )
    if bar.high < bar.low:
        return BarRejection(
            RejectionReason.HIGH_BELOW_LOW, f"{_describe(bar)}: high {bar.high} is below low {bar.low}"
        )
    if bar.high < max(bar.open, bar.close):
        return BarRejection(
            RejectionReason.HIGH_BELOW_OPEN_CLOSE,
            f"{_describe(bar)}: high {bar.high} is below open {bar.open} or close {bar.close}",
        )
    if bar.low > min(bar.open, bar.close):
        return BarRejection(
            RejectionReason.LOW_ABOVE_OPEN_CLOSE,
            f"{_describe(bar)}: low {bar.low} is above open {bar.open} or close {bar.close}",
        )
    return None


def session_of(bar: BarLike, calendar: MarketCalendar) -> Session | None:
    """The session a bar claims to belong to.

    A daily bar belongs to the session dated on its UTC date (NYSE sessions never cross a UTC
    midnight), so a daily bar stamped at midnight is found and then reported as misaligned.
    """
    if bar.timeframe.is_intraday:
        return calendar.session_for(bar.timestamp)
    return calendar.session_for(bar.timestamp.date())


def check_timestamp(bar: BarLike, session: Session | None) -> BarRejection | None:
    """The calendar rules, with the bar's session passed in as a value (see `session_of`)."""
    if session is None:
        where = "no session is open at" if bar.timeframe.is_intraday else "there is no session on"
        shown = bar.timestamp.isoformat() if bar.timeframe.is_intraday else bar.timestamp.date().isoformat()
        return BarRejection(RejectionReason.OUTSIDE_SESSION, f"{_describe(bar)}: {where} {shown}")
    if not bar.timeframe.is_intraday:
        if bar.timestamp != session.open_at:
            return BarRejection(
                RejectionReason.MISALIGNED_TIMESTAMP,
                f"{_describe(bar)}: a daily bar starts at the session open {session.open_at.isoformat()}",
            )
        return None
    if not session.contains(bar.timestamp):
        return BarRejection(
            RejectionReason.OUTSIDE_SESSION,
            f"{_describe(bar)}: outside the session "
            f"{session.open_at.isoformat()}..{session.close_at.isoformat()}",
        )
    if (bar.timestamp - session.open_at) % bar.timeframe.duration:
        return BarRejection(
            RejectionReason.MISALIGNED_TIMESTAMP,
            f"{_describe(bar)}: not a multiple of {bar.timeframe.value} "
            f"from the open {session.open_at.isoformat()}",
        )
    return None


def validate_bar(bar: BarLike, calendar: MarketCalendar) -> BarRejection | None:
    """None when the bar is acceptable, else the first broken rule with a readable message."""
    return check_values(bar) or check_timestamp(bar, session_of(bar, calendar))


@dataclass(frozen=True, slots=True)
class RejectedBar:
    candidate: BarLike
    rejection: BarRejection


@dataclass(frozen=True, slots=True)
class BatchValidation:
    accepted: tuple[Bar, ...]
    rejected: tuple[RejectedBar, ...]
    counts_by_reason: dict[RejectionReason, int] = field(default_factory=dict)

    @property
    def accepted_count(self) -> int:
        return len(self.accepted)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)


def _as_bar(candidate: BarLike) -> Bar:
    if isinstance(candidate, Bar):
        return candidate
    if isinstance(candidate, BarCandidate):
        return candidate.to_bar()
    return Bar(
        symbol=candidate.symbol,
        timeframe=candidate.timeframe,
        timestamp=candidate.timestamp,
        open=candidate.open,
        high=candidate.high,
        low=candidate.low,
        close=candidate.close,
        volume=candidate.volume,
    )


def validate_batch(candidates: Iterable[BarLike], calendar: MarketCalendar) -> BatchValidation:
    """Split a batch into accepted bars and rejections; a repeated (symbol, timeframe, timestamp) is rejected
    after its first occurrence so the store never sees two rows for one key."""
    accepted: list[Bar] = []
    rejected: list[RejectedBar] = []
    seen: set[tuple[str, Timeframe, datetime]] = set()
    for candidate in candidates:
        rejection = validate_bar(candidate, calendar)
        key = (candidate.symbol, candidate.timeframe, candidate.timestamp)
        if rejection is None and key in seen:
            rejection = BarRejection(
                RejectionReason.DUPLICATE_TIMESTAMP,
                f"{_describe(candidate)}: appears more than once in the batch",
            )
        if rejection is None:
            seen.add(key)
            accepted.append(_as_bar(candidate))
        else:
            rejected.append(RejectedBar(candidate, rejection))
    counts = Counter(item.rejection.reason for item in rejected)
    return BatchValidation(tuple(accepted), tuple(rejected), dict(counts))


@dataclass(frozen=True, slots=True)
class GapReport:
    """Bars the calendar expects but the store lacks. `missing_sessions` lists sessions with no bar at all."""

    expected_count: int
    missing_at: tuple[datetime, ...]
    missing_sessions: tuple[date, ...]

    @property
    def missing_count(self) -> int:
        return len(self.missing_at)


def find_gaps(stored_at: Iterable[datetime], sessions: Sequence[Session], timeframe: Timeframe) -> GapReport:
    """Compare the stored bar timestamps of one symbol/timeframe with the bars `sessions` should hold."""
    present = set(stored_at)
    expected = 0
    missing: list[datetime] = []
    empty_sessions: list[date] = []
    for session in sessions:
        starts = list(bar_starts(session, timeframe))
        expected += len(starts)
        absent = [start for start in starts if start not in present]
        missing.extend(absent)
        if len(absent) == len(starts):
            empty_sessions.append(session.session_date)
    return GapReport(expected, tuple(missing), tuple(empty_sessions))
