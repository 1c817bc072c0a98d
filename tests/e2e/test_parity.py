"""Parity: the seven services on the replay clock and `trader backtest --through-risk` over the same
window, strategy and settings make the same decisions (approved/denied with the same reasons, on
the same cash and equity), the same fills (price, quantity, time) and the same final equity."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.e2e.parity import Window, compare

pytestmark = pytest.mark.e2e

WINDOW = Window(
    symbols=("AAPL", "GOOG", "IBM", "MSFT"),
    first_day=date(2010, 1, 4),
    sessions=14,
    parameters={"fast_window": 3, "slow_window": 8},
    speed=21600.0,
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
    assert comparison.mismatches == []
