"""The one intrabar rule for protective exits, on both sides, and the wrong-side check."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trader.core.orders import OrderSide
from trader.core.protective import ProtectiveFractions, ProtectiveLeg, protective_exit, wrong_side

D = Decimal


@pytest.mark.parametrize(
    ("side", "bar", "expected"),
    [
        # long: stop 95, target 110
        (OrderSide.BUY, (100, 101, 99), None),
        (OrderSide.BUY, (100, 101, 94), (ProtectiveLeg.STOP_LOSS, 95)),  # touched within the bar
        (OrderSide.BUY, (93, 96, 92), (ProtectiveLeg.STOP_LOSS, 93)),  # gap through: the open
        (OrderSide.BUY, (100, 111, 94), (ProtectiveLeg.STOP_LOSS, 95)),  # both: the stop first
        (OrderSide.BUY, (112, 113, 94), (ProtectiveLeg.TAKE_PROFIT, 112)),  # gap over the target
        (OrderSide.BUY, (100, 111, 99), (ProtectiveLeg.TAKE_PROFIT, 110)),
        # short: stop 105, target 90
        (OrderSide.SELL, (100, 106, 99), (ProtectiveLeg.STOP_LOSS, 105)),
        (OrderSide.SELL, (107, 108, 99), (ProtectiveLeg.STOP_LOSS, 107)),
        (OrderSide.SELL, (100, 106, 89), (ProtectiveLeg.STOP_LOSS, 105)),
        (OrderSide.SELL, (88, 106, 87), (ProtectiveLeg.TAKE_PROFIT, 88)),
        (OrderSide.SELL, (100, 101, 89), (ProtectiveLeg.TAKE_PROFIT, 90)),
    ],
)
def test_the_open_first_then_the_stop_then_the_target(
    side: OrderSide, bar: tuple[int, int, int], expected: tuple[ProtectiveLeg, int] | None
) -> None:
    stop, target = (D(95), D(110)) if side is OrderSide.BUY else (D(105), D(90))
    bar_open, high, low = (D(value) for value in bar)
    hit = protective_exit(side, bar_open=bar_open, high=high, low=low, stop_loss=stop, take_profit=target)
    assert (None if hit is None else (hit.leg, hit.price)) == (
        None if expected is None else (expected[0], D(expected[1]))
    )


def test_a_level_on_the_wrong_side_is_named() -> None:
    assert wrong_side(OrderSide.BUY, D(100), stop_loss=D(95), take_profit=D(110)) == []
    assert wrong_side(OrderSide.SELL, D(100), stop_loss=D(105), take_profit=D(90)) == []
    assert wrong_side(OrderSide.BUY, D(100), stop_loss=D(100), take_profit=D(110)) == [
        "stop-loss 100 is not below the price 100 of a long entry"
    ]
    assert wrong_side(OrderSide.SELL, D(100), stop_loss=D(95), take_profit=D(101)) == [
        "stop-loss 95 is not above the price 100 of a short entry",
        "take-profit 101 is not below the price 100 of a short entry",
    ]


def test_fractions_from_a_configuration_and_their_levels() -> None:
    fractions = ProtectiveFractions.from_parameters({"stop_loss_pct": 0.05, "take_profit_pct": "0.1", "x": 1})
    assert fractions.levels(OrderSide.BUY, D("101.37")) == (D("96.31"), D("111.50"))
    assert fractions.levels(OrderSide.SELL, D(100)) == (D("105.00"), D("90.00"))
    assert ProtectiveFractions.from_parameters({}).levels(OrderSide.BUY, D(100)) == (None, None)
    for bad in (
        {"stop_loss_pct": 1},
        {"take_profit_pct": -0.1},
        {"stop_loss_pct": "x"},
        {"stop_loss_pct": True},
    ):
        with pytest.raises(ValueError, match="_pct"):
            ProtectiveFractions.from_parameters(bad)
