"""Pairwise return correlations as a value the correlation-concentration rule can read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

import numpy as np

_ONE = Decimal(1)
_DIGITS = Decimal("0.000001")


def _key(first: str, second: str) -> tuple[str, str]:
    return (first, second) if first <= second else (second, first)


@dataclass(frozen=True, slots=True)
class Correlations:
    pairs: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        normalized: dict[tuple[str, str], Decimal] = {}
        for (first, second), value in self.pairs.items():
            if not Decimal(-1) <= value <= _ONE:
                raise ValueError(f"correlation of {first} and {second} must be in [-1, 1], got {value}")
            normalized[_key(first, second)] = value
        object.__setattr__(self, "pairs", MappingProxyType(normalized))

    def between(self, first: str, second: str) -> Decimal | None:
        """The correlation of two symbols, 1 for a symbol with itself, None when not known."""
        if first == second:
            return _ONE
        return self.pairs.get(_key(first, second))

    @classmethod
    def from_returns(cls, returns: Mapping[str, Sequence[float]], min_observations: int = 20) -> Correlations:
        """Pearson correlations of aligned return series (same length, same periods).

        Pairs with fewer than `min_observations` returns or a constant series are left unknown
        rather than guessed.
        """
        symbols = sorted(returns)
        lengths = {len(returns[symbol]) for symbol in symbols}
        if len(lengths) > 1:
            raise ValueError(
                f"return series must be aligned to the same length, got lengths {sorted(lengths)}"
            )
        if not symbols or lengths.pop() < min_observations:
            return cls()
        matrix = np.asarray([np.asarray(returns[symbol], dtype=np.float64) for symbol in symbols])
        with np.errstate(divide="ignore", invalid="ignore"):
            coefficients = np.corrcoef(matrix)
        pairs: dict[tuple[str, str], Decimal] = {}
        for row, first in enumerate(symbols):
            for column in range(row + 1, len(symbols)):
                value = float(coefficients[row, column])
                if np.isfinite(value):
                    clipped = min(1.0, max(-1.0, value))
                    pairs[(first, symbols[column])] = Decimal(repr(clipped)).quantize(_DIGITS)
        return cls(pairs)
