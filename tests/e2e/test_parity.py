"""Parity: the seven services on the replay clock and `trader backtest --through-risk` over the same
window, strategy and settings make the same decisions (approved/denied with the same reasons, on
the same cash and equity), the same fills (price, quantity, commission and regulatory fees, time)
and the same final equity."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from tests.e2e.parity import Window, compare
from trader.adapters.db.tables import account_snapshots, risk_decisions

pytestmark = pytest.mark.e2e

WINDOW = Window(
    symbols=("AAPL", "GOOG", "IBM", "MSFT"),
    first_day=date(2010, 1, 4),
    sessions=14,
    parameters={"fast_window": 3, "slow_window": 8},
    speed=21600.0,
    # Every entry goes as a bracket: the simulated broker's leg fills (stop or target, by the
    # backtester's intrabar rule) must agree with the backtest's, bar for bar and price for price.
    settings={"RISK_STOP_LOSS_PCT": "0.02", "RISK_TAKE_PROFIT_PCT": "0.03"},
)


def test_the_live_pipeline_and_the_backtest_through_the_risk_manager_agree_trade_by_trade(
    tmp_path: Path,
) -> None:
    comparison = compare(WINDOW, tmp_path)
    # The live system must keep up with its clock: a session's decisions and orders before the
    # next open. Behind the clock it judges on later data than the backtest; that is reported, not
    # compared away.
    assert not comparison.late, comparison.late
    assert comparison.live_orders, "the window produced no decision; choose a busier one"
    assert any(order["decision"] == "approved" for order in comparison.live_orders)
    assert comparison.live_fills
    # Costs are on by default: sales paid regulatory fees, and both sides charged the same ones.
    assert any(fill[2] == "sell" and fill[6] > 0 for fill in comparison.live_fills), comparison.live_fills
    assert comparison.mismatches == []
    leg_fills = [fill for fill in comparison.live_fills if str(fill[0]).endswith(("-sl", "-tp"))]
    assert leg_fills, "the window made no stop or target exit; choose tighter levels"
    # The executor read the simulated account as it would Alpaca's (at start, as bars were applied,
    # after fills), and every decision recorded the equity it was judged on.
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'trading_system.db'}")
    try:
        with engine.connect() as connection:
            readings = connection.execute(select(account_snapshots.c.fills_through_id)).scalars().all()
            without_equity = connection.execute(
                select(func.count()).select_from(risk_decisions).where(risk_decisions.c.equity.is_(None))
            ).scalar_one()
    finally:
        engine.dispose()
    assert len(readings) > WINDOW.sessions and any(mark is not None for mark in readings)
    assert without_equity == 0
