"""Sizing: whole shares, rounded down, within buying power; protective levels on the tick grid."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trader.core.orders import OrderSide
from trader.core.risk.sizing import (
    MissingSizingInputError,
    SizingInputs,
    SizingMethod,
    SizingPolicy,
    atr_quantity,
    cap_to_buying_power,
    capped_kelly_quantity,
    confidence_scaled_quantity,
    fixed_fraction_quantity,
    kelly_fraction,
    size_position,
    stop_loss_price,
    take_profit_price,
    volatility_target_quantity,
    whole_shares,
)

D = Decimal
BIG = D("1000000000")


def test_fixed_fraction_rounds_down_to_whole_shares() -> None:
    assert fixed_fraction_quantity(D("100000"), D("0.1"), D("33"), BIG) == D("303")  # 303.03
    assert fixed_fraction_quantity(D("100000"), D("0.1"), D("100"), BIG) == D("100")


def test_buying_power_caps_every_method() -> None:
    assert fixed_fraction_quantity(D("100000"), D("0.5"), D("100"), D("1999.99")) == D("19")
    assert cap_to_buying_power(D("50"), D("10"), D("-5")) == D("0")


def test_atr_sizing_risks_the_budget_over_the_stop_distance() -> None:
    # 2% of 100k = 2,000 at risk; stop 2 x 2.5 = 5 away -> 400 shares.
    assert atr_quantity(D("100000"), D("0.02"), D("50"), D("2.5"), D("2"), BIG) == D("400")
    assert atr_quantity(D("100000"), D("0.02"), D("50"), D("2.6"), D("2"), BIG) == D("384")  # 384.6
    assert atr_quantity(D("100000"), D("0.02"), D("50"), D("2.5"), D("2"), D("10000")) == D("200")
    with pytest.raises(ValueError, match="stop distance"):
        atr_quantity(D("100000"), D("0.02"), D("50"), D("0"), D("2"), BIG)


def test_volatility_target_scales_inversely_and_is_capped() -> None:
    # 15% target / 30% vol -> half of equity.
    assert volatility_target_quantity(D("100000"), D("0.15"), D("0.30"), D("100"), BIG) == D("500")
    assert volatility_target_quantity(D("100000"), D("0.15"), D("0.01"), D("100"), BIG) == D("1000")


def test_kelly_fraction_and_its_cap() -> None:
    assert kelly_fraction(D("0.6"), D("1")) == D("0.2")
    assert kelly_fraction(D("0.4"), D("1")) == D("-0.2")
    # half Kelly of 0.2 -> 10% of equity
    assert capped_kelly_quantity(D("100000"), D("100"), D("0.6"), D("1"), BIG) == D("100")
    # full Kelly 0.8 halved is 0.4, capped at 0.25
    assert capped_kelly_quantity(D("100000"), D("100"), D("0.9"), D("1"), BIG) == D("250")
    assert capped_kelly_quantity(D("100000"), D("100"), D("0.4"), D("1"), BIG) == D("0")


def test_confidence_scaling_and_its_floor() -> None:
    assert confidence_scaled_quantity(D("100"), D("0.55")) == D("55")
    assert confidence_scaled_quantity(D("7"), D("0.5")) == D("3")
    assert confidence_scaled_quantity(D("100"), D("0.49"), min_confidence=D("0.5")) == D("0")
    assert confidence_scaled_quantity(D("100"), D("0.5"), min_confidence=D("0.5")) == D("50")


def test_size_position_dispatches_and_names_missing_inputs() -> None:
    inputs = SizingInputs(
        equity=D("100000"), price=D("50"), buying_power=BIG, atr=D("2.5"), confidence=D("0.5")
    )
    assert size_position(SizingPolicy(), inputs) == D("200")
    atr_policy = SizingPolicy(method=SizingMethod.ATR, scale_by_confidence=True)
    assert size_position(atr_policy, inputs) == D("200")  # 400 x 0.5
    with pytest.raises(MissingSizingInputError, match="kelly sizing needs a win probability"):
        size_position(SizingPolicy(method=SizingMethod.KELLY), inputs)
    with pytest.raises(MissingSizingInputError, match="annual volatility"):
        size_position(SizingPolicy(method=SizingMethod.VOLATILITY_TARGET), inputs)


@given(
    equity=st.decimals(min_value=-1000, max_value=10_000_000, places=2),
    fraction=st.decimals(min_value=0, max_value=1, places=4),
    price=st.decimals(min_value=D("0.01"), max_value=10_000, places=2),
    buying_power=st.decimals(min_value=-1000, max_value=10_000_000, places=2),
    confidence=st.decimals(min_value=0, max_value=1, places=3),
)
def test_sizes_are_whole_non_negative_and_affordable(
    equity: Decimal, fraction: Decimal, price: Decimal, buying_power: Decimal, confidence: Decimal
) -> None:
    quantity = confidence_scaled_quantity(
        fixed_fraction_quantity(equity, fraction, price, buying_power), confidence
    )
    assert quantity == whole_shares(quantity)
    assert quantity >= 0
    assert quantity * price <= max(buying_power, D(0))


def test_stop_loss_and_take_profit_by_percent() -> None:
    assert stop_loss_price(OrderSide.BUY, D("100"), percent=D("0.05")) == D("95.00")
    assert take_profit_price(OrderSide.BUY, D("100"), percent=D("0.1")) == D("110.00")
    assert stop_loss_price(OrderSide.SELL, D("100"), percent=D("0.05")) == D("105.00")
    assert take_profit_price(OrderSide.SELL, D("100"), percent=D("0.1")) == D("90.00")


def test_levels_round_toward_the_entry() -> None:
    # 33.33 x 0.97 = 32.3301: a long's stop rounds up (smaller loss), a short's target up (nearer).
    assert stop_loss_price(OrderSide.BUY, D("33.33"), percent=D("0.03")) == D("32.34")
    assert take_profit_price(OrderSide.SELL, D("33.33"), percent=D("0.03")) == D("32.34")
    # 33.33 x 1.03 = 34.3299: a long's target rounds down, a short's stop down.
    assert take_profit_price(OrderSide.BUY, D("33.33"), percent=D("0.03")) == D("34.32")
    assert stop_loss_price(OrderSide.SELL, D("33.33"), percent=D("0.03")) == D("34.32")


def test_levels_by_atr_and_bad_requests() -> None:
    assert stop_loss_price(OrderSide.BUY, D("50"), atr=D("1.25"), atr_multiple=D("2")) == D("47.50")
    assert take_profit_price(OrderSide.SELL, D("50"), atr=D("1.25"), atr_multiple=D("3")) == D("46.25")
    with pytest.raises(ValueError, match="either a percent or an ATR"):
        stop_loss_price(OrderSide.BUY, D("50"), percent=D("0.1"), atr=D("1"), atr_multiple=D("1"))
    with pytest.raises(ValueError, match="not a price"):
        stop_loss_price(OrderSide.BUY, D("50"), atr=D("30"), atr_multiple=D("2"))


def test_a_fractionable_asset_is_sized_in_millionths_of_a_share_never_past_the_buying_power() -> None:
    from trader.core.risk.sizing import FRACTIONAL_STEP, SizingInputs, SizingPolicy, size_position

    policy = SizingPolicy(fraction=Decimal("0.05"))
    whole = SizingInputs(equity=Decimal(30_000), price=Decimal(130), buying_power=Decimal(30_000))
    fractional = SizingInputs(
        equity=Decimal(30_000), price=Decimal(130), buying_power=Decimal(1_000), share_step=FRACTIONAL_STEP
    )

    assert size_position(policy, whole) == Decimal(11)
    # 1,500 wanted, 1,000 to spend: 7.692307 shares (7.6923076... rounded down to the step).
    assert size_position(policy, fractional) == Decimal("7.692307")
