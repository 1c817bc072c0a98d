"""Our numpy indicators against the independent `ta` package on the same random OHLCV bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta

from trader.core import indicators


@pytest.fixture(scope="module")
def ohlcv() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    size = 600
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, size)))
    open_ = close * np.exp(rng.normal(0.0, 0.003, size))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.004, size)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.004, size)))
    volume = rng.integers(100, 10_000, size).astype(float)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume})


def assert_same(ours: np.ndarray, theirs: pd.Series, first_valid: int) -> None:
    expected = theirs.to_numpy(dtype=float)
    assert ours.shape == expected.shape
    assert np.isnan(ours[:first_valid]).all(), "warm-up must be NaN"
    assert not np.isnan(ours[first_valid:]).any()
    np.testing.assert_allclose(ours[first_valid:], expected[first_valid:], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("window", [1, 5, 30])
def test_sma(ohlcv: pd.DataFrame, window: int) -> None:
    theirs = ta.trend.SMAIndicator(ohlcv.close, window).sma_indicator()
    assert_same(indicators.sma(ohlcv.close, window), theirs, window - 1)


@pytest.mark.parametrize("window", [3, 12, 26])
def test_ema(ohlcv: pd.DataFrame, window: int) -> None:
    theirs = ta.trend.EMAIndicator(ohlcv.close, window).ema_indicator()
    assert_same(indicators.ema(ohlcv.close, window), theirs, window - 1)


def test_wma(ohlcv: pd.DataFrame) -> None:
    theirs = ta.trend.WMAIndicator(ohlcv.close, 9).wma()
    assert_same(indicators.wma(ohlcv.close, 9), theirs, 8)


@pytest.mark.parametrize("window", [2, 14])
def test_rsi(ohlcv: pd.DataFrame, window: int) -> None:
    theirs = ta.momentum.RSIIndicator(ohlcv.close, window).rsi()
    assert_same(indicators.rsi(ohlcv.close, window), theirs, window - 1)


def test_rsi_is_100_without_losses() -> None:
    result = indicators.rsi(np.arange(1.0, 30.0), 14)
    assert (result[13:] == 100.0).all()


def test_macd(ohlcv: pd.DataFrame) -> None:
    theirs = ta.trend.MACD(ohlcv.close, window_slow=26, window_fast=12, window_sign=9)
    ours = indicators.macd(ohlcv.close, fast=12, slow=26, signal=9)
    assert_same(ours.macd, theirs.macd(), 25)
    assert_same(ours.signal, theirs.macd_signal(), 25 + 8)
    assert_same(ours.histogram, theirs.macd_diff(), 25 + 8)


def test_bollinger(ohlcv: pd.DataFrame) -> None:
    theirs = ta.volatility.BollingerBands(ohlcv.close, window=20, window_dev=2)
    ours = indicators.bollinger_bands(ohlcv.close, 20, 2.0)
    assert_same(ours.middle, theirs.bollinger_mavg(), 19)
    assert_same(ours.upper, theirs.bollinger_hband(), 19)
    assert_same(ours.lower, theirs.bollinger_lband(), 19)


def test_atr(ohlcv: pd.DataFrame) -> None:
    theirs = ta.volatility.AverageTrueRange(ohlcv.high, ohlcv.low, ohlcv.close, 14).average_true_range()
    assert_same(indicators.atr(ohlcv.high, ohlcv.low, ohlcv.close, 14), theirs, 13)


def test_obv(ohlcv: pd.DataFrame) -> None:
    theirs = ta.volume.OnBalanceVolumeIndicator(ohlcv.close, ohlcv.volume).on_balance_volume()
    assert_same(indicators.obv(ohlcv.close, ohlcv.volume), theirs, 0)


def test_vwap(ohlcv: pd.DataFrame) -> None:
    theirs = ta.volume.VolumeWeightedAveragePrice(
        ohlcv.high, ohlcv.low, ohlcv.close, ohlcv.volume, 14
    ).volume_weighted_average_price()
    assert_same(indicators.vwap(ohlcv.high, ohlcv.low, ohlcv.close, ohlcv.volume, 14), theirs, 13)


def test_stochastic(ohlcv: pd.DataFrame) -> None:
    theirs = ta.momentum.StochasticOscillator(ohlcv.high, ohlcv.low, ohlcv.close, 14, 3)
    ours = indicators.stochastic(ohlcv.high, ohlcv.low, ohlcv.close, 14, 3)
    assert_same(ours.k, theirs.stoch(), 13)
    assert_same(ours.d, theirs.stoch_signal(), 15)


def test_williams_r(ohlcv: pd.DataFrame) -> None:
    theirs = ta.momentum.WilliamsRIndicator(ohlcv.high, ohlcv.low, ohlcv.close, 14).williams_r()
    assert_same(indicators.williams_r(ohlcv.high, ohlcv.low, ohlcv.close, 14), theirs, 13)


def test_cci(ohlcv: pd.DataFrame) -> None:
    theirs = ta.trend.CCIIndicator(ohlcv.high, ohlcv.low, ohlcv.close, 20, 0.015).cci()
    assert_same(indicators.cci(ohlcv.high, ohlcv.low, ohlcv.close, 20), theirs, 19)


def test_roc(ohlcv: pd.DataFrame) -> None:
    theirs = ta.momentum.ROCIndicator(ohlcv.close, 12).roc()
    assert_same(indicators.roc(ohlcv.close, 12), theirs, 12)


def test_sma_is_exact_on_a_binary_tick() -> None:
    rng = np.random.default_rng(3)
    prices = np.round(rng.uniform(50, 150, 5_000) * 128) / 128
    ours = indicators.sma(prices, 30)
    exact = np.array([prices[i - 29 : i + 1].sum() / 30 for i in range(29, prices.size)])
    assert np.array_equal(ours[29:], exact)


def test_indicators_use_no_future_values(ohlcv: pd.DataFrame) -> None:
    cut = 300
    full = indicators.rsi(ohlcv.close, 14)
    truncated = indicators.rsi(ohlcv.close[:cut], 14)
    np.testing.assert_array_equal(full[:cut], truncated)
    full_cci = indicators.cci(ohlcv.high, ohlcv.low, ohlcv.close, 20)
    truncated_cci = indicators.cci(ohlcv.high[:cut], ohlcv.low[:cut], ohlcv.close[:cut], 20)
    np.testing.assert_array_equal(full_cci[:cut], truncated_cci)


def test_short_series_are_all_warm_up() -> None:
    assert np.isnan(indicators.sma([1.0, 2.0], 3)).all()
    assert np.isnan(indicators.ema([1.0, 2.0], 3)).all()
    assert np.isnan(indicators.atr([2.0], [1.0], [1.5], 3)).all()


def test_bad_window_raises() -> None:
    with pytest.raises(ValueError, match="window"):
        indicators.sma([1.0], 0)
