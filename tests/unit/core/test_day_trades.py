"""Day trades from one day's fills: a closing order on a position opened the same day, once per order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trader.core.day_trades import DayFill, day_trading
from trader.core.orders import OrderSide

MORNING = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)


def fill(symbol: str, side: OrderSide, quantity: int, minutes: int, order: str) -> DayFill:
    return DayFill(symbol, side, Decimal(quantity), MORNING + timedelta(minutes=minutes), order)


def test_a_round_trip_is_one_day_trade_however_many_fills_close_it() -> None:
    fills = [
        fill("AAPL", OrderSide.BUY, 10, 0, "a"),
        fill("AAPL", OrderSide.SELL, 4, 5, "b"),
        fill("AAPL", OrderSide.SELL, 6, 6, "b"),
    ]

    result = day_trading(fills, {"AAPL": Decimal(0)})

    assert result.opened == {("AAPL", "long")}
    assert dict(result.day_trades) == {"b": MORNING + timedelta(minutes=6)}
    assert result.made_after(None) == 1 and result.made_after(MORNING + timedelta(minutes=6)) == 0


def test_selling_a_position_held_overnight_is_no_day_trade_and_a_short_covered_is_one() -> None:
    fills = [
        fill("MSFT", OrderSide.SELL, 5, 0, "a"),  # from 5 held since yesterday
        fill("IBM", OrderSide.SELL, 3, 1, "b"),  # opens a short
        fill("IBM", OrderSide.BUY, 3, 2, "c"),  # covers it
    ]

    result = day_trading(fills, {"MSFT": Decimal(0), "IBM": Decimal(0)})

    assert result.opened == {("IBM", "short")}
    assert set(result.day_trades) == {"c"}
