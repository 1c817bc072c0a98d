"""The portfolio as a decision records it: the same text whichever snapshot a holding appears in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from trader.core.portfolio import Mark, Portfolio, mark_to_market, record_trade
from trader.core.positions import Position
from trader.core.risk.decide import portfolio_snapshot, recorded_day_start_equity

AT = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)


def holding(price: str) -> Portfolio:
    return Portfolio(
        cash=Decimal("1000"),
        peak_equity=Decimal("5000"),
        day_start_equity=Decimal("4000.123"),
        trading_day=date(2024, 3, 5),
        positions={"AAPL": Position("AAPL", Decimal("10.0"), Decimal("100.12345"))},
        marks={"AAPL": Mark(Decimal(price), AT)},
    )


def test_a_holding_is_recorded_as_its_own_values_print() -> None:
    (entry,) = portfolio_snapshot(holding("101.25"))["positions"]
    assert entry == {
        "symbol": "AAPL",
        "quantity": "10",
        "average_cost": "100.1234",  # half-even
        "mark": "101.25",
        "marked_at": "2024-03-05T15:00:00+00:00",
    }


def test_equal_values_written_differently_are_recorded_as_written() -> None:
    # Snapshots of one holding share its text; an equal price written otherwise keeps its own.
    first = holding("101.25")
    assert portfolio_snapshot(record_trade(first))["positions"] == portfolio_snapshot(first)["positions"]
    (entry,) = portfolio_snapshot(holding("101.250"))["positions"]
    assert entry["mark"] == "101.250"


def test_snapshots_of_the_same_holdings_record_them_alike_and_apart() -> None:
    first = holding("101.25")
    recorded = portfolio_snapshot(first)["positions"]
    again = portfolio_snapshot(record_trade(first))["positions"]
    again[0]["mark"] = "changed"  # each snapshot owns its record
    assert recorded[0]["mark"] == portfolio_snapshot(first)["positions"][0]["mark"] == "101.25"
    moved = mark_to_market(first, {"AAPL": Mark(Decimal("102"), AT + timedelta(minutes=1))})
    assert portfolio_snapshot(moved)["positions"][0]["mark"] == "102"
    assert portfolio_snapshot(first)["positions"][0]["mark"] == "101.25"


def test_the_recorded_day_start_equity_is_the_snapshot_s() -> None:
    portfolio = holding("101.25")
    recorded = recorded_day_start_equity(portfolio)
    assert recorded == Decimal(portfolio_snapshot(portfolio)["day_start_equity"]) == Decimal("4000.12")
