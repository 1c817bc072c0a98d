"""A signal is a target position: long, not long, short, flat. What is already the target sends
nothing; an opposite position is closed first."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trader.core.orders import OrderSide
from trader.core.risk.decide import side_and_quantity

TEN = Decimal(10)


@pytest.mark.parametrize(
    ("direction", "held", "expected"),
    [
        ("buy", Decimal(0), (OrderSide.BUY, TEN)),
        ("buy", Decimal(7), None),  # a repeated entry adds nothing
        ("buy", Decimal(-3), (OrderSide.BUY, Decimal(3))),  # the short is covered first
        ("sell", Decimal(7), (OrderSide.SELL, Decimal(7))),
        ("sell", Decimal(0), None),  # an exit when flat is nothing, not a short
        ("sell", Decimal(-3), None),
        ("short", Decimal(0), (OrderSide.SELL, TEN)),
        ("short", Decimal(7), (OrderSide.SELL, Decimal(7))),  # the long is closed first
        ("short", Decimal(-3), None),
        ("flat", Decimal(7), (OrderSide.SELL, Decimal(7))),
        ("flat", Decimal(-3), (OrderSide.BUY, Decimal(3))),
        ("flat", Decimal(0), None),
    ],
)
def test_each_direction_moves_the_position_toward_its_target(
    direction: str, held: Decimal, expected: tuple[OrderSide, Decimal] | None
) -> None:
    assert side_and_quantity(direction, held, TEN) == expected


def test_an_opening_under_one_step_is_judged_at_one_share_so_a_limit_names_why() -> None:
    assert side_and_quantity("buy", Decimal(0), Decimal(0)) == (OrderSide.BUY, Decimal(1))
    assert side_and_quantity("buy", Decimal(0), Decimal("0.25")) == (OrderSide.BUY, Decimal("0.25"))
