"""Synthetic GBM minute bars inside real NYSE sessions: deterministic, valid, on the tick grid."""

from __future__ import annotations

import itertools
import math
from datetime import date
from decimal import Decimal

import numpy as np
import pytest

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.replay import SyntheticMarket, generate_minute_bars
from trader.core.aggregation import aggregate_bars
from trader.core.market import Timeframe
from trader.core.validation import find_gaps, validate_batch


@pytest.fixture(scope="module")
def calendar() -> XNYSCalendar:
    return XNYSCalendar()


def test_bars_fill_real_sessions_including_the_early_close(calendar: XNYSCalendar) -> None:
    sessions = calendar.sessions_between(date(2024, 11, 25), date(2024, 12, 3))  # Thanksgiving week
    bars = generate_minute_bars(["MSFT"], sessions, SyntheticMarket(seed=42))
    assert len(bars) == 390 * 5 + 210
    assert find_gaps([bar.timestamp for bar in bars], sessions, Timeframe.MINUTE1).missing_count == 0
    checked = validate_batch(bars, calendar)
    assert checked.rejected_count == 0
    tick = Decimal(1) / 128
    for bar in bars[::37]:
        for price in (bar.open, bar.high, bar.low, bar.close):
            assert price % tick == 0
    daily = aggregate_bars(bars, Timeframe.DAY1, calendar)
    assert [bar.timestamp for bar in daily] == [session.open_at for session in sessions]


def test_same_seed_same_bars_other_seed_other_bars(calendar: XNYSCalendar) -> None:
    sessions = calendar.sessions_between(date(2024, 3, 8), date(2024, 3, 11))
    first = generate_minute_bars(["AAPL", "IBM"], sessions, SyntheticMarket(seed=7))
    again = generate_minute_bars(["IBM", "AAPL"], sessions, SyntheticMarket(seed=7))
    other = generate_minute_bars(["AAPL", "IBM"], sessions, SyntheticMarket(seed=8))
    assert first == again
    assert [bar.close for bar in first] != [bar.close for bar in other]
    aapl_closes = [bar.close for bar in first if bar.symbol == "AAPL"]
    ibm_closes = [bar.close for bar in first if bar.symbol == "IBM"]
    assert aapl_closes != ibm_closes


def test_realised_volatility_matches_the_parameter(calendar: XNYSCalendar) -> None:
    sessions = calendar.sessions_between(date(2024, 1, 2), date(2024, 1, 31))
    market = SyntheticMarket(seed=3, volatility=0.4, drift=0.0, start_prices={"NVDA": 500.0})
    bars = generate_minute_bars(["NVDA"], sessions, market)
    assert bars[0].open == Decimal(500)
    closes = np.array([float(bar.close) for bar in bars])
    returns = np.diff(np.log(closes))
    same_session = np.array(
        [later.timestamp.date() == earlier.timestamp.date() for earlier, later in itertools.pairwise(bars)]
    )
    annualised = float(np.std(returns[same_session])) * math.sqrt(252 * 390)
    assert annualised == pytest.approx(0.4, rel=0.05)
