from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trader.core.fills import (
    DEFAULT_SLIPPAGE_BPS,
    Commission,
    FillModel,
    FillRule,
    RegulatoryFees,
    Slippage,
)
from trader.core.market import Bar, Timeframe
from trader.core.orders import OrderSide


def make_bar(open_: str, close: str) -> Bar:
    return Bar(
        symbol="AAPL",
        timeframe=Timeframe.MINUTE1,
        timestamp=datetime(2024, 1, 2, 14, 30, tzinfo=UTC),
        open=Decimal(open_),
        high=max(Decimal(open_), Decimal(close)) + 1,
        low=min(Decimal(open_), Decimal(close)) - 1,
        close=Decimal(close),
        volume=Decimal(1000),
    )


def test_next_open_fills_at_the_open_and_close_rule_at_the_close() -> None:
    bar = make_bar("100", "101")
    assert FillModel.frictionless().quote_fill(OrderSide.BUY, Decimal(5), bar).price == Decimal("100")
    close_rule = FillModel.frictionless(FillRule.CLOSE)
    assert close_rule.quote_fill(OrderSide.BUY, Decimal(5), bar).price == Decimal("101")
    assert FillRule.NEXT_OPEN.bar_offset == 1
    assert FillRule.CLOSE.bar_offset == 0


def test_slippage_moves_the_price_against_the_trader() -> None:
    model = FillModel(slippage=Slippage(Decimal(10)))
    bar = make_bar("200", "200")
    assert model.quote_fill(OrderSide.BUY, Decimal(1), bar).price == Decimal("200.2")
    assert model.quote_fill(OrderSide.SELL, Decimal(1), bar).price == Decimal("199.8")


def test_commission_is_per_share_plus_rate_with_a_minimum() -> None:
    commission = Commission(per_share=Decimal("0.005"), rate=Decimal("0.0001"), minimum=Decimal(1))
    assert commission.charge(Decimal(100), Decimal(50)) == Decimal(1)  # 0.5 + 0.5 is not above the minimum
    assert commission.charge(Decimal(1000), Decimal(50)) == Decimal("10.0000")  # 5 + 5
    assert commission.charge(Decimal(0), Decimal(50)) == Decimal(0)


def test_cash_change_of_a_buy_and_a_sell() -> None:
    model = FillModel(slippage=Slippage(Decimal(0)), commission=Commission(minimum=Decimal(2)))
    bar = make_bar("10", "10")
    assert model.quote_fill(OrderSide.BUY, Decimal(3), bar).cash_change == Decimal(-32)
    sale = model.quote_fill(OrderSide.SELL, Decimal(3), bar)
    # The sale also pays the SEC fee (0.000834 -> 0.01) and the TAF (0.000498 -> 0.01).
    assert (sale.commission, sale.fees, sale.cash_change) == (Decimal(2), Decimal("0.02"), Decimal("27.98"))


def test_affordable_quantity_leaves_room_for_the_minimum_commission() -> None:
    model = FillModel(slippage=Slippage(Decimal(0)), commission=Commission(minimum=Decimal(5)))
    assert model.affordable_quantity(Decimal(1000), Decimal(10)) == Decimal(99)
    free = FillModel.frictionless()
    assert free.affordable_quantity(Decimal(1000), Decimal(10)) == Decimal(100)
    assert free.affordable_quantity(Decimal(5), Decimal(10)) == Decimal(0)


def test_float_sizing_matches_the_decimal_sizing() -> None:
    generator = random.Random(5)
    for _ in range(300):
        model = FillModel(
            slippage=Slippage(Decimal(generator.choice([0, 1, 5]))),
            commission=Commission(
                per_share=Decimal(generator.choice(["0", "0.005"])),
                rate=Decimal(generator.choice(["0", "0.001"])),
                minimum=Decimal(generator.choice(["0", "1"])),
            ),
        )
        cash = Decimal(generator.randrange(1, 10**7)) / 128
        price = Decimal(generator.randrange(128, 128 * 500)) / 128
        exact = model.affordable_quantity(cash, price)
        buy_price = float(model.slippage.adjust(OrderSide.BUY, price))
        assert model.affordable_quantity_float(float(cash), buy_price) == float(exact)


def test_negative_costs_and_bad_quantities_raise() -> None:
    with pytest.raises(ValueError, match="slippage"):
        Slippage(Decimal(-1))
    with pytest.raises(ValueError, match="commission"):
        Commission(minimum=Decimal(-1))
    with pytest.raises(ValueError, match="positive"):
        FillModel().quote_fill(OrderSide.BUY, Decimal(0), make_bar("1", "1"))


def test_array_path_matches_the_scalar_path() -> None:
    import numpy as np

    model = FillModel(
        slippage=Slippage(Decimal(3)), commission=Commission(Decimal("0.01"), Decimal("0.0005"), Decimal(1))
    )
    prices = np.array([10.0, 55.5, 300.25])
    quantities = np.array([0.0, 7.0, 1000.0])
    buys = model.slippage.adjust_array(OrderSide.BUY, prices)
    charged = model.commission.charge_array(quantities, buys)
    for price, quantity, buy, fee in zip(prices, quantities, buys, charged, strict=True):
        scalar_price = model.slippage.adjust(OrderSide.BUY, Decimal(str(float(price))))
        assert math.isclose(buy, float(scalar_price), rel_tol=1e-12)
        assert math.isclose(
            fee,
            float(model.commission.charge(Decimal(str(float(quantity))), Decimal(str(float(buy))))),
            abs_tol=1e-4,
        )


def test_the_default_costs_are_slippage_and_the_regulatory_fees_without_commission() -> None:
    model = FillModel()
    assert model.slippage.basis_points == DEFAULT_SLIPPAGE_BPS > 0
    assert model.commission.is_free
    assert not model.fees.is_free and not model.is_frictionless
    assert FillModel.frictionless().is_frictionless


def test_regulatory_fees_round_each_fee_up_to_the_cent_and_cap_the_taf() -> None:
    fees = RegulatoryFees(Decimal("0.0000278"), Decimal("0.000166"), Decimal("8.30"))
    # 100 shares at 250: SEC 25000 x 0.0000278 = 0.695 -> 0.70; TAF 100 x 0.000166 = 0.0166 -> 0.02.
    assert fees.charge(OrderSide.SELL, Decimal(100), Decimal(250)) == Decimal("0.72")
    # 1,000,000 shares at 1: SEC 27.80 exactly (no extra cent); TAF 166 capped at 8.30.
    assert fees.charge(OrderSide.SELL, Decimal(1_000_000), Decimal(1)) == Decimal("36.10")
    assert fees.charge(OrderSide.BUY, Decimal(100), Decimal(250)) == Decimal(0)
    assert RegulatoryFees.none().charge(OrderSide.SELL, Decimal(100), Decimal(250)) == Decimal(0)
    with pytest.raises(ValueError, match="sec_fee_rate"):
        RegulatoryFees(sec_fee_rate=Decimal("-0.1"))


def test_float_fees_match_the_decimal_fees_to_the_cent() -> None:
    generator = random.Random(7)
    fees = RegulatoryFees()
    for _ in range(2000):
        quantity = Decimal(generator.randrange(1, 200_000))
        price = Decimal(generator.randrange(128, 128 * 2000)) / 128
        exact = fees.charge(OrderSide.SELL, quantity, price)
        assert fees.charge_sale_float(float(quantity), float(price)) == pytest.approx(float(exact), abs=1e-9)
