"""Position accounting: open, add, reduce, close and flip, with average cost and realized P&L."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trader.core.orders import OrderSide
from trader.core.positions import InvalidFillError, Position, signed_quantity

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def test_open_and_add_average_the_cost() -> None:
    position = Position("AAPL").apply_fill(BUY, D("100"), D("10"))
    assert (position.quantity, position.average_cost, position.realized_pnl) == (D("100"), D("10"), D("0"))
    position = position.apply_fill(BUY, D("50"), D("13"))
    assert position.quantity == D("150")
    assert position.average_cost == D("11")  # (1000 + 650) / 150


def test_reduce_realizes_against_the_average_cost_which_stays() -> None:
    position = Position("AAPL", D("150"), D("11")).apply_fill(SELL, D("50"), D("14"))
    assert (position.quantity, position.average_cost, position.realized_pnl) == (D("100"), D("11"), D("150"))


def test_close_leaves_a_flat_position_with_its_realized_pnl() -> None:
    position = Position("AAPL", D("100"), D("11"), D("150")).apply_fill(SELL, D("100"), D("9"))
    assert position.is_flat
    assert position.average_cost == 0
    assert position.realized_pnl == D("-50")


def test_flip_long_to_short_realizes_the_long_and_opens_the_short_at_the_fill_price() -> None:
    position = Position("AAPL", D("100"), D("10")).apply_fill(SELL, D("130"), D("12"))
    assert position.quantity == D("-30")
    assert position.average_cost == D("12")
    assert position.realized_pnl == D("200")
    assert position.is_short


def test_short_side_mirrors_the_long_side() -> None:
    short = Position("TSLA").apply_fill(SELL, D("10"), D("200")).apply_fill(SELL, D("10"), D("220"))
    assert (short.quantity, short.average_cost) == (D("-20"), D("210"))
    covered = short.apply_fill(BUY, D("5"), D("190"))  # gains 20 a share on 5
    assert (covered.quantity, covered.average_cost, covered.realized_pnl) == (D("-15"), D("210"), D("100"))
    flipped = covered.apply_fill(BUY, D("25"), D("200"))
    assert (flipped.quantity, flipped.average_cost, flipped.realized_pnl) == (D("10"), D("200"), D("250"))


def test_commission_is_charged_to_realized_pnl_not_to_cost() -> None:
    position = Position("AAPL").apply_fill(BUY, D("10"), D("100"), commission=D("1.5"))
    assert (position.average_cost, position.realized_pnl) == (D("100"), D("-1.5"))


def test_unrealized_pnl_and_market_value_at_a_mark() -> None:
    long = Position("AAPL", D("100"), D("10"))
    short = Position("TSLA", D("-20"), D("210"))
    assert long.unrealized_pnl(D("12")) == D("200")
    assert short.unrealized_pnl(D("200")) == D("200")
    assert short.market_value(D("200")) == D("-4000")


@pytest.mark.parametrize(
    ("quantity", "price", "commission", "message"),
    [("0", "10", "0", "quantity"), ("1", "0", "0", "price"), ("1", "10", "-1", "commission")],
)
def test_impossible_fills_are_refused(quantity: str, price: str, commission: str, message: str) -> None:
    with pytest.raises(InvalidFillError, match=message):
        Position("AAPL").apply_fill(BUY, D(quantity), D(price), D(commission))


def test_a_flat_position_cannot_carry_a_cost() -> None:
    with pytest.raises(ValueError, match="flat position"):
        Position("AAPL", D("0"), D("10"))


fills = st.lists(
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.integers(min_value=1, max_value=500),
        st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2),
    ),
    min_size=1,
    max_size=30,
)


@given(fills=fills, mark=st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2))
def test_realized_plus_unrealized_equals_cash_flow_plus_holding_value(
    fills: list[tuple[OrderSide, int, Decimal]], mark: Decimal
) -> None:
    """Whatever the path through zero, total P&L is what was paid and received plus what is held."""
    position = Position("AAPL")
    cash_flow = D(0)
    for side, quantity, price in fills:
        position = position.apply_fill(side, D(quantity), price)
        cash_flow -= signed_quantity(side, D(quantity)) * price
    total = position.realized_pnl + position.unrealized_pnl(mark)
    assert abs(total - (cash_flow + position.quantity * mark)) < D("1e-12")
    assert position.quantity == sum((signed_quantity(s, D(q)) for s, q, _ in fills), D(0))
    assert position.average_cost >= 0
