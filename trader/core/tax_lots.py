"""Realised profit and loss by tax lot, first in first out, for long and short positions.

Each buy opens (or, against a short, closes) lots; each sell closes the oldest open long lots
(or opens a short lot). Commissions are split pro rata between the lots a fill touches, so a
lot's cost basis and proceeds include them. Holding periods over 365 days are long-term.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

ZERO = Decimal(0)
LONG_TERM_AFTER = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill, as the lot matcher needs it."""

    symbol: str
    side: str  # "buy" | "sell"
    quantity: Decimal
    price: Decimal
    commission: Decimal  # everything charged beyond the price, regulatory fees included
    executed_at: datetime
    reference: str = ""
    group: str = ""  # lots are matched within a group (e.g. a strategy); "" for the whole account
    regulatory_fees: Decimal = ZERO  # the part of `commission` that is SEC and FINRA fees

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, not {self.side!r}")
        if self.quantity <= 0 or self.price <= 0:
            raise ValueError(f"execution {self.reference or self.symbol} needs a positive quantity and price")
        if self.commission < 0:
            raise ValueError(f"execution {self.reference or self.symbol} has a negative commission")


@dataclass(frozen=True, slots=True)
class RealisedLot:
    symbol: str
    group: str
    direction: str  # "long" | "short"
    quantity: Decimal
    opened_at: datetime
    closed_at: datetime
    cost_basis: Decimal  # paid to open a long / to close a short, commissions included
    proceeds: Decimal  # received on closing a long / on opening a short, commissions deducted
    open_reference: str
    close_reference: str

    @property
    def gain(self) -> Decimal:
        return self.proceeds - self.cost_basis

    @property
    def term(self) -> str:
        return "long" if self.closed_at - self.opened_at > LONG_TERM_AFTER else "short"


@dataclass(slots=True)
class _OpenLot:
    direction: str
    quantity: Decimal
    price: Decimal
    commission: Decimal  # still attached to the remaining quantity
    opened_at: datetime
    reference: str


@dataclass(frozen=True, slots=True)
class OpenLot:
    symbol: str
    group: str
    direction: str
    quantity: Decimal
    price: Decimal
    opened_at: datetime
    reference: str


@dataclass(frozen=True, slots=True)
class LotMatching:
    realised: tuple[RealisedLot, ...]
    open_lots: tuple[OpenLot, ...]

    def realised_total(self) -> Decimal:
        return sum((lot.gain for lot in self.realised), ZERO)


def _share(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    return total if part == whole else total * part / whole


def match_lots(executions: Iterable[Execution]) -> LotMatching:
    """FIFO lots per (group, symbol); executions are taken in time order (stable for ties)."""
    ordered = sorted(executions, key=lambda execution: execution.executed_at)
    books: dict[tuple[str, str], deque[_OpenLot]] = defaultdict(deque)
    realised: list[RealisedLot] = []
    for execution in ordered:
        book = books[(execution.group, execution.symbol)]
        closing = "short" if execution.side == "buy" else "long"
        remaining = execution.quantity
        while remaining > 0 and book and book[0].direction == closing:
            lot = book[0]
            taken = min(remaining, lot.quantity)
            open_commission = _share(lot.commission, taken, lot.quantity)
            close_commission = _share(execution.commission, taken, execution.quantity)
            if closing == "long":
                cost = taken * lot.price + open_commission
                proceeds = taken * execution.price - close_commission
            else:
                cost = taken * execution.price + close_commission
                proceeds = taken * lot.price - open_commission
            realised.append(
                RealisedLot(
                    symbol=execution.symbol,
                    group=execution.group,
                    direction=closing,
                    quantity=taken,
                    opened_at=lot.opened_at,
                    closed_at=execution.executed_at,
                    cost_basis=cost,
                    proceeds=proceeds,
                    open_reference=lot.reference,
                    close_reference=execution.reference,
                )
            )
            lot.commission -= open_commission
            lot.quantity -= taken
            remaining -= taken
            if lot.quantity == 0:
                book.popleft()
        if remaining > 0:
            book.append(
                _OpenLot(
                    direction="long" if execution.side == "buy" else "short",
                    quantity=remaining,
                    price=execution.price,
                    commission=_share(execution.commission, remaining, execution.quantity),
                    opened_at=execution.executed_at,
                    reference=execution.reference,
                )
            )
    open_lots = tuple(
        OpenLot(symbol, group, lot.direction, lot.quantity, lot.price, lot.opened_at, lot.reference)
        for (group, symbol), book in sorted(books.items())
        for lot in book
    )
    return LotMatching(tuple(realised), open_lots)


def realised_by(lots: Sequence[RealisedLot], key: str) -> dict[str, Decimal]:
    """Sum of gains by 'symbol', 'group' or 'term'."""
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for lot in lots:
        totals[getattr(lot, key)] += lot.gain
    return dict(totals)
