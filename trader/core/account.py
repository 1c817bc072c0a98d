"""The broker's account at one moment, as the executor records it and the risk manager reads it.

A reading is "in step" with the books when the broker's positions equalled the books' at the time:
its cash then includes exactly the fills the books held (through `fills_through_id`), and the cash
now is that cash moved by the fills recorded since. A reading out of step (a fill the books have not
recorded yet) still counts for the equity curve and the high-water mark, never for cash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trader.core.broker import BrokerAccount
from trader.core.market import require_aware_utc


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    taken_at: datetime
    source: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal | None
    long_market_value: Decimal
    short_market_value: Decimal
    last_equity: Decimal | None
    pattern_day_trader: bool
    daytrade_count: int
    shorting_enabled: bool
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fills_through_id: int | None
    id: int | None = None

    def __post_init__(self) -> None:
        require_aware_utc(self.taken_at, "AccountSnapshot.taken_at")

    @property
    def in_step(self) -> bool:
        return self.fills_through_id is not None

    @property
    def gross_exposure(self) -> Decimal:
        return self.long_market_value + abs(self.short_market_value)

    @property
    def net_exposure(self) -> Decimal:
        return self.long_market_value + self.short_market_value


@dataclass(frozen=True, slots=True)
class BooksPosition:
    quantity: Decimal
    average_cost: Decimal
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class BooksState:
    """The books at one instant: open positions and the newest fill id, read in one statement."""

    positions: Mapping[str, BooksPosition]
    fills_through_id: int

    @property
    def realized_pnl(self) -> Decimal:
        return sum((position.realized_pnl for position in self.positions.values()), Decimal(0))

    @property
    def cost_basis(self) -> Decimal:
        return sum((p.quantity * p.average_cost for p in self.positions.values()), Decimal(0))


def in_step(broker_quantities: Mapping[str, Decimal], books: BooksState) -> bool:
    """Whether the broker holds exactly the books' open positions."""
    theirs = {symbol: quantity for symbol, quantity in broker_quantities.items() if quantity != 0}
    ours = {symbol: p.quantity for symbol, p in books.positions.items() if p.quantity != 0}
    return theirs == ours


def snapshot_of(
    account: BrokerAccount,
    *,
    taken_at: datetime,
    source: str,
    books: BooksState,
    broker_quantities: Mapping[str, Decimal] | None,
) -> AccountSnapshot:
    """The account reading as a snapshot; in step (with the books' newest fill id) when the broker's
    positions, read before and after the account and the same both times (`broker_quantities`;
    None when they moved), equal the books' read after all three."""
    market_value = account.long_market_value + account.short_market_value
    return AccountSnapshot(
        taken_at=taken_at,
        source=source,
        cash=account.cash,
        equity=account.equity,
        buying_power=account.buying_power,
        long_market_value=account.long_market_value,
        short_market_value=account.short_market_value,
        last_equity=account.last_equity,
        pattern_day_trader=account.pattern_day_trader,
        daytrade_count=account.daytrade_count,
        shorting_enabled=account.shorting_enabled,
        realized_pnl=books.realized_pnl,
        unrealized_pnl=market_value - books.cost_basis,
        fills_through_id=(
            books.fills_through_id
            if broker_quantities is not None and in_step(broker_quantities, books)
            else None
        ),
    )
