"""The portfolio as an immutable snapshot, and the pure functions that move it forward.

A snapshot holds what the risk rules read: cash, positions, the last price seen for each
symbol with its time, the peak equity (for drawdown), the equity at the start of the ET
trading day (for the daily loss limit), the count of trades placed that day, and the last
signal time per (strategy, symbol) (for the duplicate-signal cooldown). Every function returns
a new snapshot; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from types import MappingProxyType
from typing import TypeVar, cast
from zoneinfo import ZoneInfo

from trader.core.market import is_aware_utc, require_aware_utc
from trader.core.money import to_decimal
from trader.core.orders import OrderSide
from trader.core.positions import ZERO, Position, signed_quantity

EXCHANGE_TIME_ZONE = ZoneInfo("America/New_York")

SignalKey = tuple[str, str]  # (strategy name, symbol)


K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


def read_only_copy(mapping: Mapping[K, V]) -> Mapping[K, V]:
    """A private copy of `mapping` behind a read-only view. The view of another snapshot is copied
    through its own dict's copy(), ten times faster than item by item (snapshots and contexts are
    derived from one another many times per order judged)."""
    copied = mapping.copy() if isinstance(mapping, MappingProxyType) else dict(mapping)
    return MappingProxyType(copied)


class MissingMarkError(ValueError):
    """An open position without a price: equity and exposure cannot be known."""


def trading_day_of(moment: datetime) -> date:
    """The US-equity trading day a moment belongs to: its calendar date in New York."""
    if moment.tzinfo is None:
        raise ValueError(f"need an aware datetime to find its trading day, got {moment!r}")
    return moment.astimezone(EXCHANGE_TIME_ZONE).date()


@dataclass(frozen=True, slots=True)
class Mark:
    """The last price seen for a symbol and when it was observed."""

    price: Decimal
    marked_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "price", to_decimal(self.price))
        if self.price <= 0:
            raise ValueError(f"a mark price must be positive, got {self.price}")
        require_aware_utc(self.marked_at, "Mark.marked_at")


@dataclass(frozen=True, slots=True)
class _Exposures:
    """What a snapshot's open positions add up to, summed once per snapshot."""

    open_positions: tuple[Position, ...]
    long: Decimal
    short: Decimal
    # Absolute market value per open position (the concentration rules read them again and again).
    by_symbol: Mapping[str, Decimal]
    # Other values derived from the positions and marks alone, kept by `Portfolio.per_holdings`.
    derived: dict[str, object] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, positions: Mapping[str, Position], marks: Mapping[str, Mark]) -> _Exposures:
        # One pass, adding in position order as summing each side separately would.
        held: list[Position] = []
        by_symbol: dict[str, Decimal] = {}
        long = short = ZERO
        for position in positions.values():
            quantity = position.quantity
            if quantity == 0:
                continue
            held.append(position)
            value = position.market_value(marks[position.symbol].price)
            by_symbol[position.symbol] = abs(value)
            if quantity > 0:
                long += value
            else:
                short += value
        return cls(open_positions=tuple(held), long=long, short=-short, by_symbol=by_symbol)


@dataclass(frozen=True, slots=True)
class Portfolio:
    cash: Decimal
    peak_equity: Decimal
    day_start_equity: Decimal
    trading_day: date
    positions: Mapping[str, Position] = field(default_factory=dict)
    marks: Mapping[str, Mark] = field(default_factory=dict)
    trades_today: int = 0
    last_signal_at: Mapping[SignalKey, datetime] = field(default_factory=dict)
    # The snapshot is immutable, so its sums are computed on first use and kept: the risk rules
    # read equity and exposure many times per order (a 500-symbol minute judges ~115 orders).
    _exposures: _Exposures | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("cash", "peak_equity", "day_start_equity"):
            object.__setattr__(self, name, to_decimal(getattr(self, name)))
        # Private copies behind read-only views: a snapshot must not change under a reader.
        object.__setattr__(self, "positions", read_only_copy(self.positions))
        object.__setattr__(self, "marks", read_only_copy(self.marks))
        object.__setattr__(self, "last_signal_at", read_only_copy(self.last_signal_at))
        if self.trades_today < 0:
            raise ValueError(f"trades_today cannot be negative, got {self.trades_today}")
        # Snapshots are derived from one another several times per order judged: the checks run
        # on every one, so they stay plain loops and build a message only for a failure.
        marks = self.marks
        for symbol, position in self.positions.items():
            if position.symbol != symbol:
                raise ValueError(f"position for {position.symbol} is filed under {symbol}")
            if position.quantity and symbol not in marks:
                raise MissingMarkError(
                    f"open position {symbol} has no price; mark it before building the snapshot"
                )
        for key, signal_at in self.last_signal_at.items():
            if not is_aware_utc(signal_at):
                require_aware_utc(signal_at, f"last signal time for {key}")

    @classmethod
    def starting(cls, cash: Decimal, trading_day: date) -> Portfolio:
        """A fresh all-cash portfolio."""
        amount = to_decimal(cash)
        return cls(cash=amount, peak_equity=amount, day_start_equity=amount, trading_day=trading_day)

    def position(self, symbol: str) -> Position:
        return self.positions.get(symbol) or Position(symbol)

    def mark_price(self, symbol: str) -> Decimal | None:
        mark = self.marks.get(symbol)
        return None if mark is None else mark.price

    def _summed(self) -> _Exposures:
        exposures = self._exposures
        if exposures is None:
            exposures = _Exposures.of(self.positions, self.marks)
            object.__setattr__(self, "_exposures", exposures)
        return exposures

    def per_holdings(self, key: str, compute: Callable[[Portfolio], T]) -> T:
        """`compute(self)` for a value that depends on the positions and marks alone, made once and
        shared by every snapshot derived without moving a holding (a batch of decisions records the
        same holdings many times). `key` names the value; one key must always mean one computation."""
        derived = self._summed().derived
        if key not in derived:
            derived[key] = compute(self)
        return cast(T, derived[key])

    @property
    def open_positions(self) -> tuple[Position, ...]:
        """The same tuple for snapshots derived without moving a holding (same positions and marks)."""
        return self._summed().open_positions

    @property
    def open_position_count(self) -> int:
        return len(self.open_positions)

    def exposure_of(self, symbol: str) -> Decimal:
        """Absolute market value of one symbol's position (zero when flat)."""
        return self._summed().by_symbol.get(symbol, ZERO)

    def exposure_of_all(self, symbols: Iterable[str]) -> Decimal:
        """The absolute market values of these symbols' positions, added in the order given."""
        return sum(map(self._summed().by_symbol.get, symbols, repeat(ZERO)), ZERO)

    @property
    def long_exposure(self) -> Decimal:
        return self._summed().long

    @property
    def short_exposure(self) -> Decimal:
        """Positive size of the short book."""
        return self._summed().short

    @property
    def gross_exposure(self) -> Decimal:
        return self.long_exposure + self.short_exposure

    @property
    def net_exposure(self) -> Decimal:
        return self.long_exposure - self.short_exposure

    @property
    def equity(self) -> Decimal:
        return self.cash + self.net_exposure

    @property
    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions.values()), ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((p.unrealized_pnl(self.marks[p.symbol].price) for p in self.open_positions), ZERO)

    @property
    def daily_pnl(self) -> Decimal:
        return self.equity - self.day_start_equity

    @property
    def daily_return(self) -> Decimal:
        """Day P&L as a fraction of start-of-day equity (0 when that equity is not positive)."""
        if self.day_start_equity <= 0:
            return ZERO
        return self.daily_pnl / self.day_start_equity

    @property
    def drawdown(self) -> Decimal:
        """Fall from the peak as a fraction of the peak (0 at a new high)."""
        equity = self.equity
        peak = max(self.peak_equity, equity)
        if peak <= 0:
            return ZERO
        return (peak - equity) / peak


def _same_holdings(source: Portfolio, changed: Portfolio) -> Portfolio:
    """`changed` (made from `source` with the same positions and marks) keeps the sums already made."""
    # Summed on the source if not yet, so every snapshot derived from it shares one set of sums.
    object.__setattr__(changed, "_exposures", source._summed())
    return changed


def restate(
    portfolio: Portfolio,
    *,
    peak_equity: Decimal,
    day_start_equity: Decimal,
    trades_today: int,
    last_signal_at: Mapping[SignalKey, datetime],
) -> Portfolio:
    """The same holdings and cash with other reference equities (drawdown is measured from the peak,
    the day's loss from the day start) and counts; the sums already made are kept."""
    return _same_holdings(
        portfolio,
        replace(
            portfolio,
            peak_equity=peak_equity,
            day_start_equity=day_start_equity,
            trades_today=trades_today,
            last_signal_at=last_signal_at,
        ),
    )


def _with_peak(portfolio: Portfolio) -> Portfolio:
    equity = portfolio.equity
    if equity > portfolio.peak_equity:
        return _same_holdings(portfolio, replace(portfolio, peak_equity=equity))
    return portfolio


def apply_fill(
    portfolio: Portfolio,
    symbol: str,
    side: OrderSide,
    quantity: Decimal,
    price: Decimal,
    filled_at: datetime,
    commission: Decimal = ZERO,
) -> Portfolio:
    """The portfolio after one fill: cash, position, the symbol's mark and the peak move together.

    The trade count is not touched: one order may fill in many pieces; `record_trade` counts orders.
    """
    require_aware_utc(filled_at, "filled_at")
    quantity = to_decimal(quantity)
    price = to_decimal(price)
    commission = to_decimal(commission)
    position = portfolio.position(symbol).apply_fill(side, quantity, price, commission)
    cash = portfolio.cash - signed_quantity(side, quantity) * price - commission
    positions = dict(portfolio.positions)
    positions[symbol] = position
    marks = dict(portfolio.marks)
    current = marks.get(symbol)
    if current is None or current.marked_at <= filled_at:
        marks[symbol] = Mark(price, filled_at)
    return _with_peak(replace(portfolio, cash=cash, positions=positions, marks=marks))


def mark_to_market(portfolio: Portfolio, marks: Mapping[str, Mark] | Iterable[tuple[str, Mark]]) -> Portfolio:
    """Take newer prices (older ones than those held are ignored) and lift the peak if equity rose."""
    updated = dict(portfolio.marks)
    items = marks.items() if isinstance(marks, Mapping) else marks
    repriced_holding = False
    for symbol, mark in items:
        current = updated.get(symbol)
        if current is None or current.marked_at <= mark.marked_at:
            updated[symbol] = mark
            repriced_holding = repriced_holding or not portfolio.position(symbol).is_flat
    marked = replace(portfolio, marks=updated)
    if not repriced_holding:
        # Marks of symbols not held move no sum (a new order's symbol is priced before it is held).
        marked = _same_holdings(portfolio, marked)
    return _with_peak(marked)


def start_trading_day(portfolio: Portfolio, trading_day: date) -> Portfolio:
    """Roll to a new ET trading day: today's loss is measured from equity now; the trade count resets."""
    if trading_day < portfolio.trading_day:
        raise ValueError(f"trading day cannot go back from {portfolio.trading_day} to {trading_day}")
    if trading_day == portfolio.trading_day:
        return portfolio
    return _same_holdings(
        portfolio,
        replace(portfolio, trading_day=trading_day, day_start_equity=portfolio.equity, trades_today=0),
    )


def record_trade(portfolio: Portfolio) -> Portfolio:
    """Count one more order placed today (for the trades-per-day limit)."""
    return _same_holdings(portfolio, replace(portfolio, trades_today=portfolio.trades_today + 1))


def record_signal(portfolio: Portfolio, strategy_name: str, symbol: str, signal_at: datetime) -> Portfolio:
    """Remember a signal so a repeat within the cooldown is recognised as a duplicate."""
    require_aware_utc(signal_at, "signal_at")
    key = (strategy_name, symbol)
    current = portfolio.last_signal_at.get(key)
    if current is not None and current >= signal_at:
        return portfolio
    signals = dict(portfolio.last_signal_at)
    signals[key] = signal_at
    return _same_holdings(portfolio, replace(portfolio, last_signal_at=signals))


def reset_peak(portfolio: Portfolio) -> Portfolio:
    """Measure drawdown from equity now: what resuming after a drawdown halt acknowledges.

    Without it the drawdown breaker would trip again on the next evaluation.
    """
    return _same_holdings(portfolio, replace(portfolio, peak_equity=portfolio.equity))
