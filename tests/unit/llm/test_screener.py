"""Scans over daily bars and the ranked, capped universe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trader.core.market import Bar, Timeframe
from trader.core.screener import Candidate, ScanSettings, rank_universe, scan

SETTINGS = ScanSettings(gap_percent=Decimal(3), relative_volume=Decimal(2), volume_bars=5, breakout_bars=5)
ALL = ["gap", "relative_volume", "breakout"]


def _bars(closes: list[int], last_open: int, last_volume: int) -> list[Bar]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    bars = []
    for i, close in enumerate(closes):
        last = i == len(closes) - 1
        bars.append(
            Bar(
                symbol="X",
                timeframe=Timeframe.DAY1,
                timestamp=start + timedelta(days=i),
                open=Decimal(last_open if last else close),
                high=Decimal(close + 1),
                low=Decimal(min(close, last_open) - 1 if last else close - 1),
                close=Decimal(close),
                volume=Decimal(last_volume if last else 100),
            )
        )
    return bars


def test_each_scan_fires_on_its_own_condition() -> None:
    quiet = scan("X", _bars([100, 100, 100, 100, 100, 100, 100], 101, 150), SETTINGS, ALL)
    assert quiet == []
    found = {
        c.source: c for c in scan("X", _bars([100, 100, 100, 100, 100, 100, 110], 105, 300), SETTINGS, ALL)
    }
    assert set(found) == {"gap", "relative_volume", "breakout"}
    assert round(found["gap"].score, 2) == 5.0 and round(found["relative_volume"].score, 2) == 3.0
    assert (
        scan("X", _bars([100, 100, 100, 100, 100, 100, 110], 105, 300), SETTINGS, ["gap"])[0].source == "gap"
    )


def test_the_universe_is_ranked_by_fused_ranks_capped_with_pinned_and_held() -> None:
    candidates = [
        Candidate("AAA", "gap", 9.0),
        Candidate("BBB", "gap", 5.0),
        Candidate("BBB", "relative_volume", 4.0),
        Candidate("CCC", "relative_volume", 8.0),
        Candidate("DDD", "most_actives", 1e9),
        Candidate("BBB", "most_actives", 1e6),
    ]
    universe = rank_universe(candidates, cap=3, pinned=["PIN"], held=["OLD", "AAA"])
    assert [(item.symbol, item.reason) for item in universe] == [
        ("PIN", "pinned"),
        ("BBB", "screened"),  # second in three sources: 1/2 x 3 beats first in one
        ("AAA", "screened"),  # ties with CCC and DDD at 1, broken by symbol
        ("OLD", "held"),  # outside the cap; AAA, also held, is already in
    ]
    assert [item.sources for item in universe][1] == ("gap", "most_actives", "relative_volume")
