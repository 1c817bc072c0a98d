"""Risk figures for the risk manager's read endpoints."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.risk.risk_builders import LOOSE, D, make_context, make_portfolio
from trader.core.risk.metrics import measure, position_limits


def test_measure_reports_exposure_losses_and_sectors() -> None:
    portfolio = make_portfolio(
        "50000", {"AAPL": ("100", "100"), "XOM": ("-200", "50")}, peak="100000", day_start="60000"
    )  # equity 50,000 + 10,000 - 10,000
    context = make_context(sectors={"AAPL": "Tech", "XOM": "Energy"})
    metrics = measure(portfolio, context)
    assert metrics.equity == D("50000")
    assert (metrics.gross_exposure, metrics.net_exposure) == (D("20000"), D("0"))
    assert metrics.gross_exposure_share == D("0.4")
    assert metrics.drawdown == D("0.5")
    assert metrics.daily_pnl == D("-10000")
    assert metrics.sector_shares == {"Energy": D("0.2"), "Tech": D("0.2")}


def test_position_limits_show_share_and_headroom_largest_first() -> None:
    limits = LOOSE.with_changes(max_position_pct=D("0.25"))
    portfolio = make_portfolio("70000", {"AAPL": ("100", "100"), "MSFT": ("-200", "100")})  # equity 60,000
    rows = position_limits(portfolio, limits)
    assert [row.symbol for row in rows] == ["MSFT", "AAPL"]
    msft, aapl = rows
    assert msft.share_of_equity == Decimal(20000) / Decimal(60000)
    assert msft.headroom == D("0")  # 15,000 cap, 20,000 held
    assert msft.market_value == D("-20000")
    assert aapl.headroom == D("5000")
