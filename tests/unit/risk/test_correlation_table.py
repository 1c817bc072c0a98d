"""Correlations from stored closes: the prepared table gives exactly what rounding every pair of the
plainly aligned returns gives, whichever symbols a question picks and whatever gaps the closes have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from trader.core.risk.correlation import Correlations
from trader.core.risk.market_figures import Closes, CloseTable, correlations_of

START = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)


def reference_pairs(closes_by_symbol: dict[str, Closes]) -> dict[tuple[str, str], Decimal]:
    """Every pair rounded up front, as the risk manager computed them before the table existed."""
    usable = {symbol: closes for symbol, closes in closes_by_symbol.items() if len(closes) >= 2}
    if len(usable) < 2:
        return {}
    common = set.intersection(*({moment for moment, _ in closes} for closes in usable.values()))
    symbols = sorted(usable)
    rows = []
    for symbol in symbols:
        prices = np.asarray([float(price) for moment, price in usable[symbol] if moment in common])
        rows.append(prices[1:] / prices[:-1] - 1.0 if len(common) >= 2 else np.asarray([]))
    if len(rows[0]) < 20:
        return {}
    with np.errstate(divide="ignore", invalid="ignore"):
        coefficients = np.corrcoef(np.asarray(rows))
    pairs = {}
    for row, first in enumerate(symbols):
        for column in range(row + 1, len(symbols)):
            value = float(coefficients[row, column])
            if np.isfinite(value):
                clipped = min(1.0, max(-1.0, value))
                pairs[(first, symbols[column])] = Decimal(repr(clipped)).quantize(Decimal("0.000001"))
    return pairs


def random_closes(seed: int, symbols: int = 12, bars: int = 60) -> dict[str, Closes]:
    """Correlated random walks; some symbols miss bars, one is flat, one has a single close."""
    generator = np.random.default_rng(seed)
    market = generator.normal(0, 0.002, bars)
    closes: dict[str, Closes] = {}
    for index in range(symbols):
        moves = market * generator.uniform(-1.5, 1.5) + generator.normal(0, 0.002, bars)
        prices = 100 * np.cumprod(1 + moves)
        kept = generator.random(bars) > (0.1 if index % 3 == 0 else 0.0)
        closes[f"S{index:02d}"] = [
            (START + timedelta(minutes=minute), Decimal(f"{prices[minute]:.4f}"))
            for minute in range(bars)
            if kept[minute]
        ]
    closes["FLAT"] = [(START + timedelta(minutes=minute), Decimal("50")) for minute in range(bars)]
    closes["ONE"] = [(START, Decimal("10"))]
    return closes


@pytest.mark.parametrize("seed", range(8))
def test_table_equals_rounding_every_pair_of_the_aligned_returns(seed: int) -> None:
    closes = random_closes(seed)
    expected = reference_pairs(closes)
    assert expected, "the case must have known pairs to compare"
    correlations = correlations_of(closes)
    assert dict(correlations.pairs) == expected
    for first, second in expected:
        assert correlations.between(second, first) == expected[(first, second)]
    assert correlations.between("S01", "FLAT") is None


@pytest.mark.parametrize("seed", range(4))
def test_each_question_to_a_shared_table_equals_asking_it_alone(seed: int) -> None:
    closes = random_closes(seed, symbols=16)
    table = CloseTable(closes)
    holdings = ["S01", "S02", "S04", "S05", "S07", "FLAT", "ONE"]
    for symbol in ["S00", "S03", "S09", "S02", "MISSING"]:
        picked = {s: closes[s] for s in sorted({symbol, *holdings}) if s in closes}
        view = table.only([symbol, *holdings])
        assert dict(view) == picked
        assert dict(correlations_of(view).pairs) == reference_pairs(picked)


def test_too_few_common_closes_leave_every_pair_unknown() -> None:
    closes = random_closes(1, symbols=3, bars=20)  # 20 closes give 19 returns
    assert reference_pairs(closes) == {}
    assert correlations_of(closes) == Correlations()


def test_closes_out_of_time_order_are_aligned_as_given() -> None:
    closes = random_closes(2, symbols=4)
    closes["S01"] = list(reversed(closes["S01"]))
    assert dict(correlations_of(closes).pairs) == reference_pairs(closes)


def test_a_non_positive_price_is_refused() -> None:
    closes = random_closes(3, symbols=3)
    common = set.intersection(*({moment for moment, _ in closes[s]} for s in ("S00", "S01", "S02")))
    at = next(index for index, (moment, _) in enumerate(closes["S01"]) if moment in common)
    closes["S01"][at] = (closes["S01"][at][0], Decimal("0"))
    with pytest.raises(ValueError, match="positive"):
        correlations_of(closes)


def test_a_matrix_needs_sorted_symbols_and_a_square_shape() -> None:
    with pytest.raises(ValueError, match="sorted"):
        Correlations.from_matrix(["B", "A"], np.eye(2))
    with pytest.raises(ValueError, match="square"):
        Correlations.from_matrix(["A", "B"], np.eye(3))


@pytest.mark.parametrize("threshold", [Decimal("0.7"), Decimal("0.65"), Decimal("0.7000005"), Decimal("1")])
def test_at_least_picks_what_comparing_every_rounded_pair_picks(threshold: Decimal) -> None:
    # Coefficients on both sides of the threshold, some within rounding of it, a few undefined.
    generator = np.random.default_rng(7)
    symbols = [f"S{index:02d}" for index in range(40)]
    t = float(threshold)
    near = [
        t,
        t + 3e-7,
        t - 3e-7,
        t + 5e-7,
        t - 5e-7,
        t + 9e-7,
        t - 9e-7,
        t + 1.1e-6,
        t - 1.1e-6,
        1.0 + 1e-12,
    ]
    coefficients = generator.uniform(-1.0, 1.0, (40, 40))
    upper = np.triu_indices(40, 1)
    picks = generator.integers(0, len(near) + 2, len(upper[0]))
    for (row, column), pick in zip(zip(*upper, strict=True), picks, strict=True):
        if pick < len(near):
            coefficients[row, column] = near[pick]
        elif pick == len(near):
            coefficients[row, column] = np.nan
    correlations = Correlations.from_matrix(symbols, coefficients)  # the lower triangle is noise
    others = [*reversed(symbols), "UNKNOWN"]
    for symbol in symbols:
        expected = tuple(
            other
            for other in others
            if other != symbol
            and (value := correlations.between(symbol, other)) is not None
            and value >= threshold
        )
        assert correlations.at_least(symbol, others, threshold) == expected
    assert correlations.at_least("UNKNOWN", others, threshold) == ()


def test_at_least_reads_given_pairs_too() -> None:
    correlations = Correlations({("AAPL", "MSFT"): Decimal("0.8"), ("AAPL", "XOM"): Decimal("0.69")})
    assert correlations.at_least("AAPL", ["XOM", "MSFT", "AAPL", "IBM"], Decimal("0.7")) == ("MSFT",)
    assert Correlations().at_least("AAPL", ["MSFT"], Decimal("0.7")) == ()
