"""Historical VaR, expected shortfall, volatility and correlations from return series."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from trader.core.risk.correlation import Correlations
from trader.core.risk.var import (
    annualized_volatility,
    expected_shortfall,
    historical_var,
    returns_from_prices,
    value_at_risk_amount,
)


def test_var_95_is_the_interpolated_fifth_percentile_loss() -> None:
    # Returns -0.10, -0.09, ..., 0.09 (20 values); the 5% quantile sits 0.95 of the way from
    # the first to the second value: -0.10 + 0.95 * 0.01 = -0.0905.
    returns = [(-10 + step) / 100 for step in range(20)]
    assert historical_var(returns) == Decimal("0.09050000")
    assert value_at_risk_amount(Decimal("100000"), returns) == Decimal("9050.00")


def test_expected_shortfall_averages_the_tail() -> None:
    returns = [-0.10, -0.05] + [0.01] * 38  # 40 values: the 5% quantile is -0.05 + ...
    tail_quantile = np.quantile(np.asarray(returns), 0.05)
    expected = -np.mean([r for r in returns if r <= tail_quantile])
    assert expected_shortfall(returns) == Decimal(repr(float(expected))).quantize(Decimal("0.00000001"))
    assert expected_shortfall(returns) >= historical_var(returns)


def test_var_of_an_all_gain_history_is_negative() -> None:
    assert historical_var([0.01, 0.02, 0.03]) < 0


def test_bad_series_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        historical_var([0.01])
    with pytest.raises(ValueError, match="NaN"):
        historical_var([0.01, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        historical_var([0.01, 0.02], confidence=1.0)


def test_returns_and_annualized_volatility() -> None:
    assert list(returns_from_prices([100.0, 110.0, 99.0])) == pytest.approx([0.1, -0.1])
    returns = [0.01, -0.01] * 50
    expected = float(np.std(returns, ddof=1) * np.sqrt(252))
    assert float(annualized_volatility(returns)) == pytest.approx(expected, abs=1e-8)


def test_correlations_from_returns() -> None:
    base = np.sin(np.arange(60) / 3.0) / 100
    noise = np.cos(np.arange(60) * 7.0) / 1000
    correlations = Correlations.from_returns(
        {"AAPL": list(base), "MSFT": list(base + noise), "XOM": list(-base), "FLAT": [0.0] * 60}
    )
    aapl_msft = correlations.between("MSFT", "AAPL")
    assert aapl_msft is not None and aapl_msft > Decimal("0.95")
    assert correlations.between("AAPL", "XOM") == Decimal("-1.000000")
    assert correlations.between("AAPL", "FLAT") is None  # constant series: undefined
    assert correlations.between("AAPL", "AAPL") == Decimal(1)
    assert Correlations.from_returns({"A": [0.1] * 5, "B": [0.2] * 5}).pairs == {}
    with pytest.raises(ValueError, match="same length"):
        Correlations.from_returns({"A": [0.1, 0.2], "B": [0.1]})
