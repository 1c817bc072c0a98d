"""The portfolio as it would be if a proposed order filled, which is what most rules judge."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trader.core.portfolio import Mark, Portfolio, apply_fill, mark_to_market
from trader.core.positions import signed_quantity
from trader.core.risk.proposal import ProposedOrder


@dataclass(frozen=True, slots=True)
class Projection:
    # Before: the portfolio with the order's reference price taken as the symbol's mark
    # (unless a newer mark is already held). After: the order filled at that mark.
    #
    # Exposure is valued at the market price, so filling changes no equity and a figure moves
    # only because the order moved it. What the order may cost (a buy limit above the market)
    # is judged separately, on its risk price, by the notional and buying-power rules.
    before: Portfolio
    after: Portfolio
    quantity_before: Decimal
    quantity_after: Decimal

    @property
    def is_reducing(self) -> bool:
        """The order only shrinks an existing position: no new shares, no flip through zero."""
        return (
            self.quantity_before != 0
            and abs(self.quantity_after) < abs(self.quantity_before)
            and self.quantity_after * self.quantity_before >= 0
        )

    @property
    def opened_quantity(self) -> Decimal:
        """Shares that add to or open a position (what needs buying power)."""
        if self.is_reducing:
            return Decimal(0)
        if self.quantity_before * self.quantity_after < 0:
            return abs(self.quantity_after)
        return abs(self.quantity_after) - abs(self.quantity_before)

    @property
    def opens_position(self) -> bool:
        return self.quantity_before == 0 or self.quantity_before * self.quantity_after < 0


# One risk evaluation runs a dozen rules over the same (order, portfolio) pair, and each asks for
# its projection; both are immutable, so the last answer is kept and reused for the same objects.
_last: tuple[ProposedOrder, Portfolio, Projection] | None = None


def project(order: ProposedOrder, portfolio: Portfolio) -> Projection:
    global _last
    last = _last
    if last is not None and last[0] is order and last[1] is portfolio:
        return last[2]
    projection = _project(order, portfolio)
    _last = (order, portfolio, projection)
    return projection


def _project(order: ProposedOrder, portfolio: Portfolio) -> Projection:
    before = mark_to_market(portfolio, {order.symbol: Mark(order.reference_price, order.priced_at)})
    held_mark = before.marks[order.symbol]
    after = apply_fill(
        before, order.symbol, order.side, order.quantity, held_mark.price, filled_at=held_mark.marked_at
    )
    quantity_before = before.position(order.symbol).quantity
    return Projection(
        before=before,
        after=after,
        quantity_before=quantity_before,
        quantity_after=quantity_before + signed_quantity(order.side, order.quantity),
    )
