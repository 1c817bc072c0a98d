"""The engine's fill timing, position rules, costs and intrabar stop rule on hand-made bars.

The rules are checked on frictionless fills (exact prices); the costs have tests of their own."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest

from trader.backtest.engine import BacktestConfig, StopRules, run_backtest
from trader.backtest.synthetic import gbm_bars
from trader.backtest.trades import ExitReason, TradeTable
from trader.core.fills import Commission, FillModel, FillRule, RegulatoryFees, Slippage
from trader.core.strategies import BarSeries, Signals

MINUTE = 60_000_000_000
FRICTIONLESS = FillModel.frictionless()


@dataclass(frozen=True)
class FixedSignals:
    """A strategy whose signals are given: entries and exits at fixed bar indexes, per symbol."""

    entries: Mapping[str, Sequence[int]]
    exits: Mapping[str, Sequence[int]]

    @property
    def name(self) -> str:
        return "fixed"

    @property
    def lookback_bars(self) -> int:
        return 1

    def parameters(self) -> Mapping[str, object]:
        return {}

    def generate(self, bars: BarSeries) -> Signals:
        entries = np.zeros(len(bars), bool)
        exits = np.zeros(len(bars), bool)
        entries[list(self.entries.get(bars.symbol, ()))] = True
        exits[list(self.exits.get(bars.symbol, ()))] = True
        return Signals(entries=entries, exits=exits)


def bars_from(rows: Sequence[tuple[float, float, float, float]], symbol: str = "TEST") -> BarSeries:
    array = np.asarray(rows, dtype=float)
    timestamps = np.arange(len(rows), dtype=np.int64) * MINUTE + 1_700_000_000 * 1_000_000_000
    opens, highs, lows, closes = array.T
    return BarSeries.from_arrays(symbol, timestamps, opens, highs, lows, closes, np.full(len(rows), 1000.0))


FLAT_BARS = [(100.0 + i, 100.0 + i + 0.5, 100.0 + i - 0.5, 100.0 + i + 0.25) for i in range(10)]


def one_symbol(entries: Sequence[int], exits: Sequence[int]) -> FixedSignals:
    return FixedSignals({"TEST": entries}, {"TEST": exits})


def test_next_open_buys_floor_of_cash_at_the_next_open_and_sells_everything() -> None:
    bars = bars_from(FLAT_BARS)
    result = run_backtest(
        one_symbol([1], [4]), bars, BacktestConfig(initial_cash=Decimal(1000), fill_model=FRICTIONLESS)
    )
    trades = result.trades
    assert trades.entry_bar.tolist() == [2] and trades.exit_bar.tolist() == [5]
    quantity = 1000 // 102.0
    assert trades.quantity.tolist() == [quantity]
    assert trades.entry_price.tolist() == [102.0] and trades.exit_price.tolist() == [105.0]
    assert result.equity[-1] == 1000 + quantity * (105.0 - 102.0)
    assert result.equity[1] == 1000 and result.equity[2] == 1000 - quantity * 102.0 + quantity * 102.25


def test_close_rule_fills_on_the_signal_bar_close() -> None:
    bars = bars_from(FLAT_BARS)
    config = BacktestConfig(initial_cash=Decimal(1000), fill_model=FillModel.frictionless(FillRule.CLOSE))
    trades = run_backtest(one_symbol([1], [4]), bars, config).trades
    assert trades.entry_bar.tolist() == [1] and trades.exit_bar.tolist() == [4]
    assert trades.entry_price.tolist() == [101.25] and trades.exit_price.tolist() == [104.25]


def test_repeats_are_ignored_and_a_bar_with_both_signals_has_none() -> None:
    bars = bars_from(FLAT_BARS)
    # exit at 0 while flat: ignored; entry at 3 while long: ignored; bar 5 has both: no signal.
    result = run_backtest(
        one_symbol([1, 3, 5, 7], [0, 5, 6]),
        bars,
        BacktestConfig(initial_cash=Decimal(1000), fill_model=FRICTIONLESS),
    )
    assert result.trades.entry_bar.tolist() == [2, 8]
    assert result.trades.exit_bar.tolist() == [7, -1]


def test_a_signal_on_the_last_bar_is_dropped_and_an_open_position_is_marked_at_the_close() -> None:
    bars = bars_from(FLAT_BARS)
    result = run_backtest(
        one_symbol([2, 9], [9]), bars, BacktestConfig(initial_cash=Decimal(1000), fill_model=FRICTIONLESS)
    )
    trades = result.trades
    assert trades.entry_bar.tolist() == [3] and trades.exit_bar.tolist() == [-1]
    assert trades.records()[0].exit_reason is ExitReason.OPEN
    quantity = 1000 // 103.0
    assert result.equity[-1] == 1000 - quantity * 103.0 + quantity * FLAT_BARS[-1][3]
    assert math.isnan(float(trades.profit[0]))


def test_costs_move_prices_and_cash() -> None:
    bars = bars_from(FLAT_BARS)
    model = FillModel(
        slippage=Slippage(Decimal(100)),
        commission=Commission(per_share=Decimal(1), minimum=Decimal(5)),
        fees=RegulatoryFees.none(),
    )
    result = run_backtest(
        one_symbol([1], [4]), bars, BacktestConfig(initial_cash=Decimal(1000), fill_model=model)
    )
    buy, sell = 102.0 * 1.01, 105.0 * 0.99
    quantity = 1000 // (buy + 1)
    while quantity * buy + max(5, quantity) > 1000:
        quantity -= 1
    trades = result.trades
    assert trades.quantity.tolist() == [quantity]
    assert trades.entry_price[0] == pytest.approx(buy) and trades.exit_price[0] == pytest.approx(sell)
    expected = 1000 - quantity * buy - max(5, quantity) + quantity * sell - max(5, quantity)
    assert result.equity[-1] == pytest.approx(expected)


def stop_run(
    rows: Sequence[tuple[float, float, float, float]], stops: StopRules, exits: Sequence[int] = ()
) -> TradeTable:
    config = BacktestConfig(initial_cash=Decimal(10_000), fill_model=FRICTIONLESS, stops=stops)
    return run_backtest(one_symbol([0], exits), bars_from(rows), config).trades


def test_stop_loss_fills_at_its_level_within_the_bar() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (100, 100.5, 97, 98), (98, 99, 97, 98)]
    trades = stop_run(rows, StopRules(stop_loss=Decimal("0.02")))
    assert trades.exit_bar.tolist() == [2]
    assert trades.exit_price.tolist() == [98.0]
    assert trades.records()[0].exit_reason is ExitReason.STOP_LOSS


def test_stop_can_trigger_on_the_fill_bar_after_the_open() -> None:
    rows = [(100, 100, 100, 100), (100, 100.5, 97, 98), (98, 99, 97, 98)]
    trades = stop_run(rows, StopRules(stop_loss=Decimal("0.02")))
    assert trades.entry_bar.tolist() == [1] and trades.exit_bar.tolist() == [1]


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (95, 96, 94, 95)]
    trades = stop_run(rows, StopRules(stop_loss=Decimal("0.02")))
    assert trades.exit_bar.tolist() == [2] and trades.exit_price.tolist() == [95.0]


def test_a_bar_touching_stop_and_target_counts_as_the_stop() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (100, 106, 97, 100)]
    trades = stop_run(rows, StopRules(stop_loss=Decimal("0.02"), take_profit=Decimal("0.05")))
    assert trades.exit_price.tolist() == [98.0]
    assert trades.records()[0].exit_reason is ExitReason.STOP_LOSS


def test_take_profit_at_its_level_or_at_a_gap_open() -> None:
    touching = [(100, 100, 100, 100), (100, 101, 99, 100), (101, 106, 100, 104)]
    gapping = [(100, 100, 100, 100), (100, 101, 99, 100), (110, 111, 109, 110)]
    rules = StopRules(stop_loss=Decimal("0.02"), take_profit=Decimal("0.05"))
    assert stop_run(touching, rules).exit_price.tolist() == [105.0]
    gap = stop_run(gapping, rules)
    assert gap.exit_price.tolist() == [110.0]
    assert gap.records()[0].exit_reason is ExitReason.TAKE_PROFIT


def test_trailing_stop_follows_earlier_highs_only() -> None:
    # Bar 2's own high (110) does not lift the stop bar 2 can hit: its level is 95 there.
    # From bar 3 the level is 110 * 0.95 = 104.5.
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (101, 110, 104, 108), (108, 109, 104, 105)]
    trades = stop_run(rows, StopRules(trailing_stop=Decimal("0.05")))
    assert trades.exit_bar.tolist() == [3]
    assert trades.exit_price.tolist() == [110 * 0.95]
    assert trades.records()[0].exit_reason is ExitReason.TRAILING_STOP


def test_a_signal_exit_at_the_open_comes_before_that_bar_s_stop() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (100, 101, 99, 100), (99.5, 99.5, 90, 91)]
    trades = stop_run(rows, StopRules(stop_loss=Decimal("0.02")), exits=[2])
    assert trades.exit_bar.tolist() == [3] and trades.exit_price.tolist() == [99.5]
    assert trades.records()[0].exit_reason is ExitReason.SIGNAL


def test_after_a_stop_an_entry_signal_on_the_stop_bar_fills_at_the_next_open() -> None:
    rows = [(100, 100, 100, 100), (100, 100.5, 97, 98), (98, 99, 97, 98), (98, 99, 97, 98)]
    config = BacktestConfig(
        initial_cash=Decimal(10_000), fill_model=FRICTIONLESS, stops=StopRules(stop_loss=Decimal("0.02"))
    )
    trades = run_backtest(one_symbol([0, 1], []), bars_from(rows), config).trades
    assert trades.entry_bar.tolist() == [1, 2]
    assert trades.exit_bar.tolist() == [1, -1]


def test_symbols_share_cash_and_an_exit_at_the_open_pays_for_an_entry_at_that_open() -> None:
    rows = [(100.0, 100.0, 100.0, 100.0)] * 6
    first, second = bars_from(rows, "AAA"), bars_from(rows, "BBB")
    strategy = FixedSignals({"AAA": [0], "BBB": [0, 2]}, {"AAA": [2]})
    config = BacktestConfig(initial_cash=Decimal(1000), fill_model=FRICTIONLESS, allocation=Decimal("0.5"))
    trades = run_backtest(strategy, [first, second], config).trades
    # Bar 1 open: AAA takes half of 1000, BBB half of the 500 left. BBB's entry at 2 repeats
    # (still long), AAA's exit at bar 3's open frees its cash.
    assert trades.symbol_index.tolist() == [0, 1]
    assert trades.quantity.tolist() == [5.0, 2.0]
    assert trades.exit_bar.tolist() == [3, -1]


def test_unaligned_symbols_raise() -> None:
    first = bars_from(FLAT_BARS, "AAA")
    second = bars_from(FLAT_BARS[:-1], "BBB")
    with pytest.raises(ValueError, match="aligned"):
        run_backtest(one_symbol([1], [2]), [first, second])


def test_fast_path_and_event_path_agree() -> None:
    bars = gbm_bars(5_000, seed=3, symbol="TEST")
    generator = np.random.default_rng(1)
    entries = np.flatnonzero(generator.random(5_000) < 0.05).tolist()
    exits = np.flatnonzero(generator.random(5_000) < 0.05).tolist()
    strategy = one_symbol(entries, exits)
    model = FillModel(
        slippage=Slippage(Decimal(2)), commission=Commission(Decimal("0.005"), Decimal(0), Decimal(1))
    )
    plain = run_backtest(strategy, bars.head(5_000), BacktestConfig(fill_model=model))
    # A stop that can never trigger sends the same run through the event-driven path.
    never = BacktestConfig(fill_model=model, stops=StopRules(stop_loss=Decimal("0.999")))
    general = run_backtest(strategy, bars, never)
    assert len(plain.trades) > 50
    np.testing.assert_array_equal(plain.trades.entry_bar, general.trades.entry_bar)
    np.testing.assert_array_equal(plain.trades.quantity, general.trades.quantity)
    assert plain.equity[-1] == pytest.approx(general.equity[-1], rel=1e-12)


def test_a_sale_pays_the_sec_fee_and_the_taf_and_a_buy_pays_neither() -> None:
    bars = bars_from(FLAT_BARS)
    fees = RegulatoryFees(Decimal("0.0000278"), Decimal("0.000166"), Decimal("8.30"))
    model = FillModel(slippage=Slippage(Decimal(0)), fees=fees)
    result = run_backtest(
        one_symbol([1], [4]), bars, BacktestConfig(initial_cash=Decimal(1000), fill_model=model)
    )
    quantity = 1000 // 102.0  # 9 shares: the buy is not reduced by fees it does not pay
    proceeds = quantity * 105.0  # 945.00
    sec_fee = math.ceil(proceeds * 0.0000278 * 100) / 100  # 0.02627 -> 0.03
    taf = math.ceil(quantity * 0.000166 * 100) / 100  # 0.001494 -> 0.01
    trades = result.trades
    assert trades.quantity.tolist() == [quantity]
    assert trades.entry_commission.tolist() == [0.0] and trades.exit_commission.tolist() == [0.0]
    assert trades.exit_fees.tolist() == pytest.approx([sec_fee + taf]) and sec_fee + taf == pytest.approx(
        0.04
    )
    assert result.equity[-1] == pytest.approx(1000 + quantity * (105.0 - 102.0) - 0.04)
    assert trades.records()[0].fees == Decimal("0.04")
    assert trades.records()[0].profit == Decimal("26.96")


def test_by_default_a_backtest_pays_slippage_and_fees() -> None:
    bars = bars_from(FLAT_BARS)
    costly = run_backtest(one_symbol([1], [4]), bars, BacktestConfig(initial_cash=Decimal(1000)))
    free = run_backtest(
        one_symbol([1], [4]), bars, BacktestConfig(initial_cash=Decimal(1000), fill_model=FRICTIONLESS)
    )
    assert costly.trades.entry_price[0] == pytest.approx(102.0 * 1.0005)  # 5 bps against the buyer
    assert costly.trades.exit_price[0] == pytest.approx(105.0 * 0.9995)
    assert costly.trades.exit_fees[0] > 0
    assert costly.equity[-1] < free.equity[-1]
