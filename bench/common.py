"""Pieces several benchmarks share: the percentile they report and the symbol universe they trade."""

from __future__ import annotations

from collections.abc import Sequence

from trader.adapters.replay.sample_data import load_sector_map


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in [0, 1]); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def chosen_universe(count: int) -> dict[str, str]:
    """symbol -> sector: the S&P 500 names of the sample sector map (496), then made-up ones."""
    sectors = {symbol: info.sector for symbol, info in sorted(load_sector_map().items())}
    universe = dict(list(sectors.items())[:count])
    for number in range(count - len(universe)):
        universe[f"SYN{number:03d}"] = "Synthetic"
    return universe
