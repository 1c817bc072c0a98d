"""Historical value at risk and the return statistics the risk rules are fed with.

Inputs are return series as floats (vectorised maths); results come back as Decimals rounded
at this edge. VaR and expected shortfall are losses written as positive fractions: 0.021 means
"on the worst 5% of days we lose at least 2.1%".
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

_DIGITS = Decimal("0.00000001")
MIN_OBSERVATIONS = 2

FloatArray = npt.NDArray[np.float64]


def _series(values: Sequence[float] | FloatArray, what: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}")
    if array.size < MIN_OBSERVATIONS:
        raise ValueError(f"{what} needs at least {MIN_OBSERVATIONS} values, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contains NaN or infinite values; clean the series first")
    return array


def _to_decimal(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(_DIGITS)


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")


def returns_from_prices(prices: Sequence[float] | FloatArray) -> FloatArray:
    """Simple period returns p[t] / p[t-1] - 1."""
    series = _series(prices, "prices")
    if np.any(series <= 0):
        raise ValueError("prices must be positive to compute returns")
    result: FloatArray = series[1:] / series[:-1] - 1.0
    return result


def historical_var(returns: Sequence[float] | FloatArray, confidence: float = 0.95) -> Decimal:
    """Loss not exceeded with `confidence`: minus the (1 - confidence) quantile of the returns,
    linearly interpolated between observations. Negative when even that tail is a gain."""
    _check_confidence(confidence)
    series = _series(returns, "returns")
    return _to_decimal(-float(np.quantile(series, 1.0 - confidence)))


def expected_shortfall(returns: Sequence[float] | FloatArray, confidence: float = 0.95) -> Decimal:
    """Average loss on the periods at or beyond the VaR quantile (CVaR)."""
    _check_confidence(confidence)
    series = _series(returns, "returns")
    threshold = np.quantile(series, 1.0 - confidence)
    tail = series[series <= threshold]
    return _to_decimal(-float(tail.mean()))


def value_at_risk_amount(
    exposure: Decimal, returns: Sequence[float] | FloatArray, confidence: float = 0.95
) -> Decimal:
    """VaR in money for a holding of `exposure`, to the cent."""
    return (exposure * historical_var(returns, confidence)).quantize(Decimal("0.01"))


def annualized_volatility(returns: Sequence[float] | FloatArray, periods_per_year: int = 252) -> Decimal:
    """Sample standard deviation of the returns scaled by sqrt(periods per year)."""
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")
    series = _series(returns, "returns")
    return _to_decimal(float(np.std(series, ddof=1)) * float(np.sqrt(periods_per_year)))
