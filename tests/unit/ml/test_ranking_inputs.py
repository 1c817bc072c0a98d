"""What a ranking model is trained on: executable labels equal to the backtester's trades, a panel
whose gaps are named, point-in-time features, and refusals that say how much data is needed."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from tests.unit.backtest.test_engine_rules import FixedSignals
from tests.unit.ml.synthetic_universe import DAY_NS, START_NS, synthetic_universe
from trader.backtest.engine import BacktestConfig, StopRules, run_backtest
from trader.core.fills import Commission, FillModel, RegulatoryFees, Slippage
from trader.core.strategies.series import BarSeries
from trader.ml.cross_features import FEATURE_NAMES, WARMUP_SESSIONS, compute_cross_features
from trader.ml.labels import TradeRules, trade_labels
from trader.ml.panel import build_panel
from trader.ml.ranking_training import InsufficientDataError, RankingConfig, check_enough_data

COSTS = FillModel(slippage=Slippage(Decimal(7)), commission=Commission(per_share=Decimal("0.01")))


@pytest.mark.parametrize(
    "stops",
    [
        StopRules(),
        StopRules(stop_loss=Decimal("0.02"), take_profit=Decimal("0.03"), trailing_stop=Decimal("0.025")),
    ],
)
def test_labels_are_the_backtesters_trades_net_of_costs(stops: StopRules) -> None:
    series = synthetic_universe(symbols=1, sessions=200, reversal=0.0, seed=9, volatility=0.02).column_series(
        0
    )[1]
    horizon = 5
    signal_bars = (10, 30, 50, 70, 90, 110, 130, 150)
    strategy = FixedSignals(
        {series.symbol: signal_bars}, {series.symbol: [bar + horizon for bar in signal_bars]}
    )
    result = run_backtest(strategy, series, BacktestConfig(fill_model=COSTS, stops=stops))
    labels = trade_labels(series, TradeRules(horizon, COSTS, stops))
    trades = result.trades
    assert len(trades) == len(signal_bars)
    paid = trades.quantity * trades.entry_price + trades.entry_commission
    backtested = (
        trades.quantity * trades.exit_price - trades.exit_commission - trades.exit_fees
    ) / paid - 1.0
    # The sale's regulatory fees are rounded up to the cent, each fee on its own trade size (the
    # label's notional, the backtester's position): they agree to those two cents on the label's
    # notional, and exactly without fees (below).
    fee_rounding = 0.02 / TradeRules(horizon, COSTS, stops).notional
    assert np.all(np.abs(labels.net_return[list(signal_bars)] - backtested) <= fee_rounding)
    frictionless_fees = TradeRules(horizon, replace(COSTS, fees=RegulatoryFees.none()), stops)
    without_fees = run_backtest(
        strategy, series, BacktestConfig(fill_model=replace(COSTS, fees=RegulatoryFees.none()), stops=stops)
    ).trades
    assert trade_labels(series, frictionless_fees).net_return[list(signal_bars)] == pytest.approx(
        (without_fees.quantity * without_fees.exit_price - without_fees.exit_commission)
        / (without_fees.quantity * without_fees.entry_price + without_fees.entry_commission)
        - 1.0,
        rel=1e-9,
        abs=1e-12,
    )
    assert labels.exit_bar[list(signal_bars)].tolist() == trades.exit_bar.tolist()
    if stops.active:
        assert (trades.exit_bar < np.array(signal_bars) + horizon + 1).any()  # some stop fired first
    # The last signals whose exit would fill past the data have no label.
    assert np.isnan(labels.net_return[-horizon - 1 :]).all()


def test_a_panel_names_the_gaps_inside_a_symbols_span() -> None:
    days = START_NS + np.arange(10, dtype=np.int64) * DAY_NS
    full = BarSeries.from_arrays("FULL", days, *([np.linspace(10, 11, 10)] * 4), np.full(10, 1000.0))
    late = BarSeries.from_arrays("LATE", days[4:], *([np.linspace(10, 11, 6)] * 4), np.full(6, 1000.0))
    holed = np.delete(np.arange(10), [3, 6])
    gappy = BarSeries.from_arrays("GAPPY", days[holed], *([np.linspace(10, 11, 8)] * 4), np.full(8, 1000.0))
    panel = build_panel([full, late, gappy], {"FULL": "Tech"})
    gaps = panel.gaps()
    assert [gap.symbol for gap in gaps] == ["GAPPY"]  # a later listing is not a gap
    assert gaps[0].missing == 2 and "GAPPY misses 2 of the 10 sessions" in gaps[0].describe()
    assert panel.sectors == ("Tech", "Unknown", "Unknown")
    assert panel.without(["GAPPY"]).symbols == ("FULL", "LATE")


def test_cross_sectional_features_use_no_future_bar() -> None:
    panel = synthetic_universe(symbols=12, sessions=140, reversal=-0.3, seed=2)
    whole = compute_cross_features(panel).values
    assert whole.shape == (140, 12, len(FEATURE_NAMES))
    for cut in (WARMUP_SESSIONS, 100, 139):
        truncated = synthetic_universe(symbols=12, sessions=140, reversal=-0.3, seed=2)
        shortened = build_panel([truncated.column_series(j)[1].head(cut) for j in range(12)], {})
        # Same sectors as the full panel, so the sector-relative columns are comparable.
        shortened = type(shortened)(
            shortened.symbols,
            panel.sectors,
            shortened.sessions_ns,
            shortened.open,
            shortened.high,
            shortened.low,
            shortened.close,
            shortened.volume,
        )
        early = compute_cross_features(shortened).values
        np.testing.assert_allclose(early, whole[:cut], rtol=1e-10, atol=1e-12, equal_nan=True)
    assert np.isfinite(whole[WARMUP_SESSIONS - 1]).all()  # every column is defined after the warm-up


def test_too_little_data_is_refused_with_how_much_is_needed() -> None:
    config = RankingConfig(horizon=5, groups=6)
    short = synthetic_universe(symbols=10, sessions=100, reversal=0.0, seed=1)
    with pytest.raises(InsufficientDataError, match=r"needs at least 127 sessions .*the data has 100"):
        check_enough_data(short, config)
    few = synthetic_universe(symbols=2, sessions=300, reversal=0.0, seed=1)
    with pytest.raises(InsufficientDataError, match="at least 3 symbols, got 2"):
        check_enough_data(few, config)
    check_enough_data(synthetic_universe(symbols=3, sessions=127, reversal=0.0, seed=1), config)
