"""Technical indicators over float64 arrays, vectorised with numpy.

Every function takes whole histories and returns an array of the same length whose value at
index t uses data up to t only; positions without enough history (the warm-up) are NaN.
Conventions follow the `ta` package (which the tests compare against): EMAs are recursive
(`adjust=False`) and seeded with the first value, Wilder smoothing (RSI) is an EMA with
alpha = 1/window, ATR is seeded with the mean of the first `window` true ranges, standard
deviations are population ones (ddof=0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def _as_float_array(values: object) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"indicators take one-dimensional series, got shape {array.shape}")
    return array


def _check_window(window: int) -> None:
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")


def rolling_sum(values: object, window: int) -> FloatArray:
    """Sum of the last `window` values.

    A running cumulative sum keeps this O(n) for any window. It is exact whenever the partial
    sums are (prices on a binary tick such as 1/128), which is what lets our SMA agree bit for
    bit with the engines we compare against.
    """
    _check_window(window)
    array = _as_float_array(values)
    result = np.full(array.shape, np.nan)
    if array.size < window:
        return result
    cumulative = np.cumsum(array)
    result[window - 1] = cumulative[window - 1]
    result[window:] = cumulative[window:] - cumulative[:-window]
    return result


def sma(values: object, window: int) -> FloatArray:
    """Simple moving average."""
    return rolling_sum(values, window) / window


def wma(values: object, window: int) -> FloatArray:
    """Linearly weighted moving average (weights 1..window, newest heaviest)."""
    _check_window(window)
    array = _as_float_array(values)
    result = np.full(array.shape, np.nan)
    if array.size < window:
        return result
    weights = np.arange(1, window + 1, dtype=np.float64) * (2.0 / (window * (window + 1)))
    result[window - 1 :] = sliding_window_view(array, window) @ weights
    return result


def exponential_smoothing(values: object, alpha: float, min_periods: int = 1) -> FloatArray:
    """Recursive EMA y[t] = y[t-1] + alpha * (x[t] - y[t-1]), seeded with the first non-NaN value.

    Leading NaNs are skipped (so an EMA of an EMA works); the first `min_periods - 1` values
    after the seed are reported as NaN. The recursion runs as a plain loop over a Python list:
    a linear recurrence has no exact vectorised numpy form, and the loop costs ~0.1 s per
    million values.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    array = _as_float_array(values)
    result = np.full(array.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(array))
    if valid.size == 0:
        return result
    start = int(valid[0])
    smoothed: list[float] = []
    append = smoothed.append
    level = float(array[start])
    append(level)
    decay = 1.0 - alpha
    for value in array[start + 1 :].tolist():
        if value == value:  # NaN inside the series keeps the previous level
            level = decay * level + alpha * value
        append(level)
    result[start:] = smoothed
    if min_periods > 1:
        result[start : start + min_periods - 1] = np.nan
    return result


def ema(values: object, window: int) -> FloatArray:
    """Exponential moving average with span `window` (alpha = 2 / (window + 1))."""
    _check_window(window)
    return exponential_smoothing(values, 2.0 / (window + 1), min_periods=window)


def rsi(close: object, window: int = 14) -> FloatArray:
    """Relative Strength Index with Wilder smoothing; 100 when there were no losses.

    As in `ta`, the first bar counts as a change of zero, so the smoothing starts at bar 0 and
    the first value is at index window - 1.
    """
    _check_window(window)
    prices = _as_float_array(close)
    change = np.zeros(prices.shape)
    change[1:] = np.diff(prices)
    gains = np.where(change > 0, change, 0.0)
    losses = np.where(change < 0, -change, 0.0)
    average_gain = exponential_smoothing(gains, 1.0 / window, min_periods=window)
    average_loss = exponential_smoothing(losses, 1.0 / window, min_periods=window)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = 100.0 - 100.0 / (1.0 + average_gain / average_loss)
    result = np.where(average_loss == 0, 100.0, result)
    result[np.isnan(average_gain)] = np.nan
    return result


@dataclass(frozen=True, slots=True)
class MacdLines:
    macd: FloatArray
    signal: FloatArray
    histogram: FloatArray


def macd(close: object, fast: int = 12, slow: int = 26, signal: int = 9) -> MacdLines:
    """MACD line (EMA fast - EMA slow), its signal EMA and the histogram between them."""
    line = ema(close, fast) - ema(close, slow)
    signal_line = ema(line, signal)
    return MacdLines(macd=line, signal=signal_line, histogram=line - signal_line)


@dataclass(frozen=True, slots=True)
class Bands:
    lower: FloatArray
    middle: FloatArray
    upper: FloatArray


def rolling_std(values: object, window: int) -> FloatArray:
    """Population standard deviation over the last `window` values, computed per window.

    Per-window (two-pass) rather than from running sums of squares, which cancel badly at price
    levels far from zero.
    """
    _check_window(window)
    array = _as_float_array(values)
    result = np.full(array.shape, np.nan)
    if array.size < window:
        return result
    result[window - 1 :] = sliding_window_view(array, window).std(axis=1)
    return result


def bollinger_bands(close: object, window: int = 20, deviations: float = 2.0) -> Bands:
    middle = sma(close, window)
    spread = deviations * rolling_std(close, window)
    return Bands(lower=middle - spread, middle=middle, upper=middle + spread)


def rolling_max(values: object, window: int) -> FloatArray:
    _check_window(window)
    array = _as_float_array(values)
    result = np.full(array.shape, np.nan)
    if array.size >= window:
        result[window - 1 :] = sliding_window_view(array, window).max(axis=1)
    return result


def rolling_min(values: object, window: int) -> FloatArray:
    _check_window(window)
    array = _as_float_array(values)
    result = np.full(array.shape, np.nan)
    if array.size >= window:
        result[window - 1 :] = sliding_window_view(array, window).min(axis=1)
    return result


def true_range(high: object, low: object, close: object) -> FloatArray:
    """max(high - low, |high - previous close|, |low - previous close|); high - low on the first bar."""
    highs, lows, closes = _as_float_array(high), _as_float_array(low), _as_float_array(close)
    result = highs - lows
    previous_close = closes[:-1]
    result[1:] = np.maximum(
        result[1:], np.maximum(np.abs(highs[1:] - previous_close), np.abs(lows[1:] - previous_close))
    )
    return result


def atr(high: object, low: object, close: object, window: int = 14) -> FloatArray:
    """Average True Range: seeded with the mean of the first `window` true ranges, then Wilder-smoothed."""
    _check_window(window)
    ranges = true_range(high, low, close)
    result = np.full(ranges.shape, np.nan)
    if ranges.size < window:
        return result
    seeded = ranges.copy()
    seeded[: window - 1] = np.nan
    seeded[window - 1] = ranges[:window].mean()
    smoothed = exponential_smoothing(seeded, 1.0 / window)
    result[window - 1 :] = smoothed[window - 1 :]
    return result


def obv(close: object, volume: object) -> FloatArray:
    """On-balance volume: running sum of volume, negative on bars that closed lower than the previous."""
    closes, volumes = _as_float_array(close), _as_float_array(volume)
    signed = volumes.copy()
    signed[1:][closes[1:] < closes[:-1]] *= -1.0
    return np.cumsum(signed)


def vwap(high: object, low: object, close: object, volume: object, window: int = 14) -> FloatArray:
    """Rolling volume-weighted average of the typical price over `window` bars."""
    volumes = _as_float_array(volume)
    typical = typical_price(high, low, close)
    with np.errstate(divide="ignore", invalid="ignore"):
        return rolling_sum(typical * volumes, window) / rolling_sum(volumes, window)


def typical_price(high: object, low: object, close: object) -> FloatArray:
    return (_as_float_array(high) + _as_float_array(low) + _as_float_array(close)) / 3.0


@dataclass(frozen=True, slots=True)
class StochasticLines:
    k: FloatArray
    d: FloatArray


def stochastic(
    high: object, low: object, close: object, window: int = 14, smooth_window: int = 3
) -> StochasticLines:
    """%K = where the close sits in the window's low..high range (0-100); %D = SMA of %K."""
    lowest = rolling_min(low, window)
    highest = rolling_max(high, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = 100.0 * (_as_float_array(close) - lowest) / (highest - lowest)
    d = np.full(k.shape, np.nan)
    if k.size >= window + smooth_window - 1:
        d[window - 1 :] = sma(k[window - 1 :], smooth_window)
    return StochasticLines(k=k, d=d)


def williams_r(high: object, low: object, close: object, window: int = 14) -> FloatArray:
    """Williams %R: -100 * (highest high - close) / (highest high - lowest low), in [-100, 0]."""
    highest = rolling_max(high, window)
    lowest = rolling_min(low, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -100.0 * (highest - _as_float_array(close)) / (highest - lowest)


def cci(high: object, low: object, close: object, window: int = 20, constant: float = 0.015) -> FloatArray:
    """Commodity Channel Index: (typical price - its SMA) / (constant * mean absolute deviation)."""
    _check_window(window)
    typical = typical_price(high, low, close)
    result = np.full(typical.shape, np.nan)
    if typical.size < window:
        return result
    windows = sliding_window_view(typical, window)
    means = windows.mean(axis=1)
    mean_deviation = np.abs(windows - means[:, None]).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        result[window - 1 :] = (typical[window - 1 :] - means) / (constant * mean_deviation)
    return result


def roc(close: object, window: int = 12) -> FloatArray:
    """Rate of change in percent over `window` bars."""
    _check_window(window)
    prices = _as_float_array(close)
    result = np.full(prices.shape, np.nan)
    if prices.size > window:
        with np.errstate(divide="ignore", invalid="ignore"):
            result[window:] = 100.0 * (prices[window:] - prices[:-window]) / prices[:-window]
    return result
