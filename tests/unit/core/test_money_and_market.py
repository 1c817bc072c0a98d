from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trader.core.market import Bar, InvalidSymbolError, Timeframe, normalize_symbol
from trader.core.money import InvalidAmountError, to_cash, to_decimal, to_price, to_quantity


def test_floats_become_their_shortest_decimal() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_price("189.123456789") == Decimal("189.12345679")
    assert to_quantity(3) == Decimal("3.000000000")
    assert to_cash("10.00005") == Decimal("10.0000")  # banker's rounding at the half


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", True, None, Decimal("NaN")])
def test_non_amounts_are_refused(value: object) -> None:
    with pytest.raises(InvalidAmountError):
        to_decimal(value)


@pytest.mark.parametrize(("raw", "symbol"), [("aapl", "AAPL"), (" BRK.B ", "BRK.B"), ("bf-b", "BF-B")])
def test_symbols_are_normalised(raw: str, symbol: str) -> None:
    assert normalize_symbol(raw) == symbol


@pytest.mark.parametrize("raw", ["", "1ABC", "AAPL;DROP", "TOOLONGSYMBOLX", "A B"])
def test_malformed_symbols_say_why(raw: str) -> None:
    with pytest.raises(InvalidSymbolError, match="malformed symbol"):
        normalize_symbol(raw)


def test_timeframes_parse_with_aliases_and_refuse_unknown() -> None:
    assert Timeframe.parse("1min") is Timeframe.MINUTE1
    assert Timeframe.parse("1D") is Timeframe.DAY1
    assert Timeframe.parse("60min") is Timeframe.HOUR1
    with pytest.raises(ValueError, match="use one of"):
        Timeframe.parse("7min")


def test_bars_are_decimal_and_aware() -> None:
    bar = Bar(
        "AAPL",
        Timeframe.MINUTE5,
        datetime(2024, 1, 2, 14, 30, tzinfo=UTC),
        open=Decimal("1.5"),
        high=Decimal(2),
        low=Decimal(1),
        close=Decimal("1.75"),
        volume=Decimal(10),
    )
    assert bar.end_at == datetime(2024, 1, 2, 14, 35, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware UTC"):
        Bar(
            "AAPL",
            Timeframe.MINUTE1,
            datetime(2024, 1, 2, 14, 30),
            Decimal(1),
            Decimal(1),
            Decimal(1),
            Decimal(1),
            Decimal(1),
        )
