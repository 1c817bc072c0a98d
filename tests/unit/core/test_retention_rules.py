"""What retention keeps: each strategy's lookback in base bars of its own timeframe, and models'
training windows, with the reasons."""

from __future__ import annotations

from trader.core.market import Timeframe
from trader.core.retention import (
    base_bars_per_bar,
    keep_rules,
    strategy_needs,
    training_needs,
    unknown_strategy_needs,
)


def test_a_bar_of_a_higher_timeframe_is_many_base_bars() -> None:
    assert base_bars_per_bar(Timeframe.DAY1, Timeframe.DAY1) == 1
    assert base_bars_per_bar(Timeframe.DAY1, Timeframe.MINUTE1) == 390  # a regular session
    assert base_bars_per_bar(Timeframe.DAY1, Timeframe.MINUTE5) == 78
    assert base_bars_per_bar(Timeframe.HOUR1, Timeframe.MINUTE1) == 60
    assert base_bars_per_bar(Timeframe.MINUTE15, Timeframe.MINUTE5) == 3
    # On daily base bars an intraday configuration reads daily bars.
    assert base_bars_per_bar(Timeframe.MINUTE5, Timeframe.DAY1) == 1


def test_a_daily_strategy_on_minute_bars_needs_its_lookback_in_sessions_of_minutes() -> None:
    (need,) = strategy_needs("swing", ["AAPL"], Timeframe.DAY1, 31, Timeframe.MINUTE1)
    assert need.base_bars == 32 * 390
    assert need.reason == "strategy swing: lookback 31 + 1 1day bars = 12480 1min bars"


def test_each_symbol_keeps_the_largest_need_with_every_reason() -> None:
    rules = keep_rules(
        [
            *strategy_needs("fast", ["AAPL", "MSFT"], Timeframe.DAY1, 9, Timeframe.DAY1),
            *strategy_needs("slow", ["AAPL"], Timeframe.DAY1, 60, Timeframe.DAY1),
            *training_needs(["MSFT"], 300),
        ]
    )
    assert list(rules) == ["AAPL", "MSFT"]
    assert rules["AAPL"].base_bars == 61
    assert rules["AAPL"].reasons == (
        "strategy fast: lookback 9 + 1 1day bars",
        "strategy slow: lookback 60 + 1 1day bars",
    )
    assert rules["MSFT"].base_bars == 300
    assert rules["MSFT"].reasons == (
        "strategy fast: lookback 9 + 1 1day bars",
        "model training: newest 300 bars",
    )


def test_an_unknown_lookback_keeps_every_bar_of_its_symbols() -> None:
    rules = keep_rules(
        [
            *unknown_strategy_needs("gone", ["IBM"], "UnknownStrategyTypeError: no type 'mine'"),
            *training_needs(["IBM"], 300),
        ]
    )
    assert rules["IBM"].base_bars is None
    assert rules["IBM"].reasons[0].startswith("strategy gone: lookback unknown (UnknownStrategyTypeError")
