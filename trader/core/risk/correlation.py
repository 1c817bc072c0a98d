"""Pairwise return correlations as a value the correlation-concentration rule can read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

_ONE = Decimal(1)
_DIGITS = Decimal("0.000001")
# Twice the most rounding to _DIGITS moves a coefficient: beyond it a float comparison decides.
_NEAR = 1e-6
# Fewer aligned returns than this and a correlation is left unknown rather than guessed.
MIN_OBSERVATIONS = 20


def _key(first: str, second: str) -> tuple[str, str]:
    return (first, second) if first <= second else (second, first)


def _rounded(coefficient: float) -> Decimal | None:
    """A coefficient as the rules read it: clipped to [-1, 1], six places; None when undefined."""
    if not np.isfinite(coefficient):
        return None
    clipped = min(1.0, max(-1.0, coefficient))
    return Decimal(repr(clipped)).quantize(_DIGITS)


class Correlations:
    """Known pairwise correlations: given as values, or read from a coefficient matrix.

    A matrix entry becomes a Decimal only when a rule asks for it: one signal's context holds the
    correlations of ~58 symbols (~1,650 pairs) and the rules read a few dozen of them. The value
    read is the one rounding every pair up front would give.
    """

    __slots__ = ("_coefficients", "_given", "_index", "_read")

    def __init__(self, pairs: Mapping[tuple[str, str], Decimal] | None = None) -> None:
        normalized: dict[tuple[str, str], Decimal] = {}
        for (first, second), value in (pairs or {}).items():
            if not Decimal(-1) <= value <= _ONE:
                raise ValueError(f"correlation of {first} and {second} must be in [-1, 1], got {value}")
            normalized[_key(first, second)] = value
        self._given: Mapping[tuple[str, str], Decimal] = MappingProxyType(normalized)
        self._index: Mapping[str, int] = MappingProxyType({})
        self._coefficients: npt.NDArray[np.float64] | None = None
        self._read: dict[tuple[str, str], Decimal | None] = {}

    @classmethod
    def from_matrix(cls, symbols: Sequence[str], coefficients: npt.NDArray[np.float64]) -> Correlations:
        """The correlations of `symbols` (sorted) from their coefficient matrix (np.corrcoef's order).
        NaN entries (a constant series) are unknown."""
        if list(symbols) != sorted(set(symbols)):
            raise ValueError("the symbols of a correlation matrix must be sorted and distinct")
        if coefficients.shape != (len(symbols), len(symbols)):
            raise ValueError(
                f"a correlation matrix of {len(symbols)} symbols must be square, got {coefficients.shape}"
            )
        correlations = cls()
        correlations._index = MappingProxyType({symbol: row for row, symbol in enumerate(symbols)})
        correlations._coefficients = coefficients
        return correlations

    def between(self, first: str, second: str) -> Decimal | None:
        """The correlation of two symbols, 1 for a symbol with itself, None when not known."""
        if first == second:
            return _ONE
        key = _key(first, second)
        given = self._given.get(key)
        if given is not None or self._coefficients is None:
            return given
        if key not in self._read:
            self._read[key] = self._from_matrix(*key)
        return self._read[key]

    def _from_matrix(self, first: str, second: str) -> Decimal | None:
        row, column = self._index.get(first), self._index.get(second)
        if row is None or column is None or self._coefficients is None:
            return None
        # The upper triangle, as every pair was read when they were all rounded up front.
        return _rounded(float(self._coefficients[min(row, column), max(row, column)]))

    def at_least(self, symbol: str, others: Sequence[str], threshold: Decimal) -> tuple[str, ...]:
        """Those of `others` (in their order) whose known correlation with `symbol` is at least
        `threshold`, as `between` reads it.

        A coefficient read from the matrix is judged in floats when it lies clear of the threshold:
        rounding it to six places moves it by at most 5e-7, so only one within 1e-6 of the
        threshold is rounded to decide. A concentration check asks this of every holding for every
        holding correlated with the order (on a day everything moves together, ~57 x 57 pairs)."""
        row = self._index.get(symbol)
        if self._coefficients is None or row is None:
            if not self._given:
                return ()  # nothing known about `symbol`
            return tuple(
                other for other in others if other != symbol and self._reaches(symbol, other, threshold)
            )
        known = [(other, column) for other in others if (column := self._index.get(other)) is not None]
        if not known:
            return ()
        columns = np.fromiter((column for _, column in known), dtype=np.intp, count=len(known))
        values = np.clip(self._coefficients[np.minimum(row, columns), np.maximum(row, columns)], -1.0, 1.0)
        limit = float(threshold)
        with np.errstate(invalid="ignore"):  # NaN (unknown) is neither above nor near
            clear_above = (values >= limit + _NEAR).tolist()
            near = (np.abs(values - limit) < _NEAR).tolist()
        chosen = []
        for (other, _), above, close in zip(known, clear_above, near, strict=True):
            if other != symbol and (above or (close and self._reaches(symbol, other, threshold))):
                chosen.append(other)
        return tuple(chosen)

    def _reaches(self, symbol: str, other: str, threshold: Decimal) -> bool:
        value = self.between(symbol, other)
        return value is not None and value >= threshold

    @property
    def pairs(self) -> Mapping[tuple[str, str], Decimal]:
        """Every known pair (first <= second) with its correlation."""
        known = dict(self._given)
        symbols = sorted(self._index, key=self._index.__getitem__)
        for row, first in enumerate(symbols):
            for second in symbols[row + 1 :]:
                value = self.between(first, second)
                if value is not None:
                    known[(first, second)] = value
        return MappingProxyType(known)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Correlations):
            return NotImplemented
        return dict(self.pairs) == dict(other.pairs)

    __hash__ = None  # type: ignore[assignment]  # equal by value, and a value that is not hashable

    def __repr__(self) -> str:
        return f"Correlations(symbols={len(self._index)}, given={len(self._given)})"

    @classmethod
    def from_returns(
        cls, returns: Mapping[str, Sequence[float]], min_observations: int = MIN_OBSERVATIONS
    ) -> Correlations:
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
        if len(symbols) < 2 or lengths.pop() < min_observations:
            return cls()  # one symbol has no pair
        matrix = np.asarray([np.asarray(returns[symbol], dtype=np.float64) for symbol in symbols])
        return cls.from_matrix(symbols, coefficients_of(matrix))


def coefficients_of(returns: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Pearson coefficients of the rows of `returns`; NaN where a row is constant."""
    with np.errstate(divide="ignore", invalid="ignore"):
        coefficients = np.asarray(np.corrcoef(returns), dtype=np.float64)
    return coefficients
