"""The trade list of a backtest: columns of arrays, turned into Decimal records on demand."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from trader.core.money import to_cash, to_price, to_quantity
from trader.core.strategies.series import from_epoch_nanoseconds


class ExitReason(enum.StrEnum):
    OPEN = "open"  # still held when the data ended
    SIGNAL = "signal"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"


EXIT_REASON_CODES: tuple[ExitReason, ...] = tuple(ExitReason)


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    entry_at: datetime
    exit_at: datetime | None
    entry_price: Decimal
    exit_price: Decimal | None
    quantity: Decimal
    commission: Decimal
    fees: Decimal  # regulatory fees of the sale (SEC fee, FINRA TAF)
    profit: Decimal | None  # after commission and fees; None while open
    exit_reason: ExitReason


@dataclass(frozen=True, slots=True, eq=False)
class TradeTable:
    """One row per round trip. `exit_bar` is -1 and `exit_price` NaN for a position still open.

    Prices are fill prices (slippage included); commissions are per side; fees are the sale's
    regulatory fees.
    """

    symbols: tuple[str, ...]
    timestamps_ns: NDArray[np.int64]
    symbol_index: NDArray[np.int64]
    entry_bar: NDArray[np.int64]
    exit_bar: NDArray[np.int64]
    entry_price: NDArray[np.float64]
    exit_price: NDArray[np.float64]
    quantity: NDArray[np.float64]
    entry_commission: NDArray[np.float64]
    exit_commission: NDArray[np.float64]
    exit_fees: NDArray[np.float64]
    exit_reason: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.entry_bar.shape[0])

    @property
    def closed(self) -> NDArray[np.bool_]:
        return self.exit_bar >= 0

    @property
    def profit(self) -> NDArray[np.float64]:
        """Profit after both commissions and the sale's fees; NaN for open trades."""
        gross = (self.exit_price - self.entry_price) * self.quantity
        return gross - self.entry_commission - self.exit_commission - self.exit_fees

    def records(self) -> tuple[Trade, ...]:
        rows = []
        for row in range(len(self)):
            closed = bool(self.exit_bar[row] >= 0)
            rows.append(
                Trade(
                    symbol=self.symbols[int(self.symbol_index[row])],
                    entry_at=from_epoch_nanoseconds(int(self.timestamps_ns[self.entry_bar[row]])),
                    exit_at=from_epoch_nanoseconds(int(self.timestamps_ns[self.exit_bar[row]]))
                    if closed
                    else None,
                    entry_price=to_price(float(self.entry_price[row])),
                    exit_price=to_price(float(self.exit_price[row])) if closed else None,
                    quantity=to_quantity(float(self.quantity[row])),
                    commission=to_cash(float(self.entry_commission[row] + self.exit_commission[row])),
                    fees=to_cash(float(self.exit_fees[row])),
                    profit=to_cash(float(self.profit[row])) if closed else None,
                    exit_reason=EXIT_REASON_CODES[int(self.exit_reason[row])],
                )
            )
        return tuple(rows)
