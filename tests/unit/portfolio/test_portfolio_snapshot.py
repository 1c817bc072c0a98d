"""The portfolio snapshot: equity and exposures, fills, marks, peak, the ET trading day."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

import pytest

from trader.core.orders import OrderSide
from trader.core.portfolio import (
    Mark,
    MissingMarkError,
    Portfolio,
    apply_fill,
    mark_to_market,
    record_signal,
    record_trade,
    reset_peak,
    start_trading_day,
    trading_day_of,
)
from trader.core.positions import Position

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
DAY = date(2024, 3, 5)


def test_fills_move_cash_positions_and_marks_together() -> None:
    portfolio = Portfolio.starting(D("10000"), DAY)
    portfolio = apply_fill(portfolio, "AAPL", BUY, D("10"), D("100"), T0, commission=D("1"))
    portfolio = apply_fill(portfolio, "TSLA", SELL, D("5"), D("200"), T0)
    assert portfolio.cash == D("10000") - D("1000") - D("1") + D("1000")
    assert portfolio.position("AAPL").quantity == D("10")
    assert portfolio.position("TSLA").quantity == D("-5")
    assert portfolio.mark_price("AAPL") == D("100")
    assert portfolio.long_exposure == D("1000")
    assert portfolio.short_exposure == D("1000")
    assert portfolio.gross_exposure == D("2000")
    assert portfolio.net_exposure == D("0")
    assert portfolio.equity == D("9999")
    assert portfolio.open_position_count == 2
    assert portfolio.trades_today == 0  # fills are not orders; record_trade counts orders


def test_equity_follows_marks_and_the_peak_only_rises() -> None:
    portfolio = apply_fill(Portfolio.starting(D("10000"), DAY), "AAPL", BUY, D("10"), D("100"), T0)
    up = mark_to_market(portfolio, {"AAPL": Mark(D("150"), T0 + timedelta(minutes=1))})
    assert (up.equity, up.peak_equity, up.unrealized_pnl) == (D("10500"), D("10500"), D("500"))
    down = mark_to_market(up, {"AAPL": Mark(D("50"), T0 + timedelta(minutes=2))})
    assert (down.equity, down.peak_equity) == (D("9500"), D("10500"))
    assert down.drawdown == D("1000") / D("10500")
    assert down.daily_pnl == D("-500")
    assert down.daily_return == D("-0.05")
    assert reset_peak(down).drawdown == 0


def test_an_older_price_never_replaces_a_newer_one() -> None:
    portfolio = apply_fill(Portfolio.starting(D("10000"), DAY), "AAPL", BUY, D("10"), D("100"), T0)
    stale = mark_to_market(portfolio, [("AAPL", Mark(D("90"), T0 - timedelta(seconds=1)))])
    assert stale.mark_price("AAPL") == D("100")
    late_fill = apply_fill(stale, "AAPL", SELL, D("1"), D("95"), T0 - timedelta(seconds=5))
    assert late_fill.mark_price("AAPL") == D("100")


def test_closing_a_position_keeps_its_realized_pnl_and_frees_the_count() -> None:
    portfolio = apply_fill(Portfolio.starting(D("10000"), DAY), "AAPL", BUY, D("10"), D("100"), T0)
    closed = apply_fill(portfolio, "AAPL", SELL, D("10"), D("110"), T0 + timedelta(minutes=1))
    assert closed.open_position_count == 0
    assert closed.realized_pnl == D("100")
    assert closed.cash == closed.equity == D("10100")


def test_trading_day_is_the_new_york_date() -> None:
    assert trading_day_of(datetime(2024, 3, 6, 3, 0, tzinfo=UTC)) == date(2024, 3, 5)  # 22:00 EST
    assert trading_day_of(datetime(2024, 3, 6, 5, 0, tzinfo=UTC)) == date(2024, 3, 6)  # 00:00 EST
    assert trading_day_of(datetime(2024, 7, 2, 3, 59, tzinfo=UTC)) == date(2024, 7, 1)  # 23:59 EDT
    assert trading_day_of(datetime(2024, 7, 2, 4, 0, tzinfo=UTC)) == date(2024, 7, 2)  # 00:00 EDT
    with pytest.raises(ValueError, match="aware"):
        trading_day_of(datetime(2024, 7, 2, 4, 0))


def test_a_new_trading_day_restarts_the_daily_figures() -> None:
    portfolio = apply_fill(Portfolio.starting(D("10000"), DAY), "AAPL", BUY, D("10"), D("100"), T0)
    portfolio = record_trade(mark_to_market(portfolio, {"AAPL": Mark(D("80"), T0 + timedelta(hours=1))}))
    assert (portfolio.daily_pnl, portfolio.trades_today) == (D("-200"), 1)
    assert start_trading_day(portfolio, DAY) is portfolio
    next_day = start_trading_day(portfolio, DAY + timedelta(days=1))
    assert (next_day.day_start_equity, next_day.daily_pnl, next_day.trades_today) == (D("9800"), D("0"), 0)
    assert next_day.peak_equity == D("10000")
    with pytest.raises(ValueError, match="cannot go back"):
        start_trading_day(next_day, DAY)


def test_signals_keep_the_latest_time_per_strategy_and_symbol() -> None:
    portfolio = record_signal(Portfolio.starting(D("1"), DAY), "sma", "AAPL", T0)
    portfolio = record_signal(portfolio, "sma", "AAPL", T0 - timedelta(minutes=5))
    assert portfolio.last_signal_at[("sma", "AAPL")] == T0
    later = record_signal(portfolio, "sma", "AAPL", T0 + timedelta(minutes=5))
    assert later.last_signal_at[("sma", "AAPL")] == T0 + timedelta(minutes=5)


def test_a_snapshot_refuses_broken_invariants_and_cannot_be_changed_under_a_reader() -> None:
    with pytest.raises(MissingMarkError, match="AAPL"):
        Portfolio(
            cash=D("0"),
            peak_equity=D("0"),
            day_start_equity=D("0"),
            trading_day=DAY,
            positions={"AAPL": Position("AAPL", D("1"), D("10"))},
        )
    with pytest.raises(ValueError, match="filed under"):
        Portfolio(
            cash=D("0"),
            peak_equity=D("0"),
            day_start_equity=D("0"),
            trading_day=DAY,
            positions={"MSFT": Position("AAPL")},
        )
    with pytest.raises(ValueError, match="aware UTC"):
        Mark(D("10"), datetime(2024, 3, 5, 10, 0))
    with pytest.raises(ValueError, match=r"last signal time for \('sma', 'AAPL'\) must be aware UTC"):
        Portfolio(D("0"), D("0"), D("0"), DAY, last_signal_at={("sma", "AAPL"): datetime(2024, 3, 5, 10, 0)})
    signals = {("sma", "AAPL"): T0}
    signalled = Portfolio(D("0"), D("0"), D("0"), DAY, last_signal_at=signals)
    signals[("sma", "MSFT")] = T0
    assert list(record_trade(signalled).last_signal_at) == [("sma", "AAPL")]
    source = {"AAPL": Mark(D("10"), T0)}
    portfolio = Portfolio(D("0"), D("0"), D("0"), DAY, marks=source)
    viewed = Portfolio(D("0"), D("0"), D("0"), DAY, marks=MappingProxyType(source))
    source["MSFT"] = Mark(D("20"), T0)
    assert "MSFT" not in portfolio.marks
    assert "MSFT" not in viewed.marks  # a read-only view given is copied too
    with pytest.raises(TypeError):
        portfolio.marks["MSFT"] = Mark(D("20"), T0)  # type: ignore[index]


def test_sums_kept_from_an_earlier_snapshot_equal_those_made_afresh() -> None:
    # A snapshot sums its positions once; snapshots derived without moving a holding keep the sums.
    start = apply_fill(Portfolio.starting(D("10000"), DAY), "AAPL", BUY, D("10"), D("100"), T0)
    start = apply_fill(start, "TSLA", SELL, D("5"), D("200"), T0)
    assert start.equity == D("10000")
    later = T0 + timedelta(minutes=1)
    derived = [
        mark_to_market(start, {"MSFT": Mark(D("300"), later)}),  # not held
        mark_to_market(start, {"AAPL": Mark(D("120"), later), "MSFT": Mark(D("300"), later)}),
        mark_to_market(start, {"TSLA": Mark(D("180"), later)}),
        apply_fill(start, "MSFT", BUY, D("1"), D("300"), later),
        record_trade(start),
        record_signal(start, "sma", "AAPL", later),
        reset_peak(start),
        start_trading_day(start, date(2024, 3, 6)),
    ]
    for portfolio in derived:
        afresh = replace(portfolio)  # the same fields, nothing summed yet
        assert (portfolio.long_exposure, portfolio.short_exposure, portfolio.equity) == (
            afresh.long_exposure,
            afresh.short_exposure,
            afresh.equity,
        )
        assert portfolio.open_positions == afresh.open_positions
        for symbol, position in portfolio.positions.items():
            value = position.quantity * portfolio.marks[symbol].price
            assert portfolio.exposure_of(symbol) == abs(value)
        assert portfolio.exposure_of("IBM") == 0
        held = [*portfolio.positions, "IBM"]
        assert portfolio.exposure_of_all(held) == sum((portfolio.exposure_of(s) for s in held), D(0))
    assert derived[1].long_exposure == D("1200") and derived[2].short_exposure == D("900")
