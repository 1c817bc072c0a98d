"""A universe of symbols on one session grid: (sessions x symbols) arrays, gaps found and named.

Cross-sectional models read every symbol at the same session, so the bars of the universe are
laid on the union of their sessions; a symbol that starts later or ends earlier has NaN outside
its own span. A session missing *inside* a symbol's span while others traded is a gap: rolling
features and labels would silently straddle it, so gaps are found and reported by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.core.strategies.series import BarSeries, from_epoch_nanoseconds

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
UNKNOWN_SECTOR = "Unknown"


@dataclass(frozen=True, slots=True)
class Gap:
    symbol: str
    missing: int
    span: int
    first_missing_ns: int

    def describe(self) -> str:
        day = from_epoch_nanoseconds(self.first_missing_ns).date().isoformat()
        return (
            f"{self.symbol} misses {self.missing} of the {self.span} sessions between its first and "
            f"last bar (first missing {day})"
        )


@dataclass(frozen=True, slots=True, eq=False)
class Panel:
    symbols: tuple[str, ...]
    sectors: tuple[str, ...]
    sessions_ns: IntArray  # (T,) ascending
    open: FloatArray  # (T, N); NaN where the symbol has no bar
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.sessions_ns.size), len(self.symbols))

    def present(self) -> NDArray[np.bool_]:
        return np.isfinite(self.close)

    def column_series(self, column: int) -> tuple[IntArray, BarSeries]:
        """The symbol's own rows (session indices) and its bars as a BarSeries."""
        rows = np.flatnonzero(np.isfinite(self.close[:, column])).astype(np.int64)
        series = BarSeries(
            symbol=self.symbols[column],
            timestamps_ns=self.sessions_ns[rows],
            open=np.ascontiguousarray(self.open[rows, column]),
            high=np.ascontiguousarray(self.high[rows, column]),
            low=np.ascontiguousarray(self.low[rows, column]),
            close=np.ascontiguousarray(self.close[rows, column]),
            volume=np.ascontiguousarray(self.volume[rows, column]),
        )
        return rows, series

    def gaps(self) -> list[Gap]:
        found = []
        present = self.present()
        for column, symbol in enumerate(self.symbols):
            rows = np.flatnonzero(present[:, column])
            if rows.size == 0:
                continue
            span = int(rows[-1] - rows[0] + 1)
            if rows.size < span:
                inside = np.arange(rows[0], rows[-1] + 1)
                first = int(inside[~present[inside, column]][0])
                found.append(Gap(symbol, span - int(rows.size), span, int(self.sessions_ns[first])))
        return found

    def without(self, symbols: Sequence[str]) -> Panel:
        dropped = set(symbols)
        keep = np.array(
            [index for index, symbol in enumerate(self.symbols) if symbol not in dropped], dtype=np.int64
        )
        present = np.isfinite(self.close[:, keep]).any(axis=1)
        return Panel(
            symbols=tuple(self.symbols[int(i)] for i in keep),
            sectors=tuple(self.sectors[int(i)] for i in keep),
            sessions_ns=self.sessions_ns[present],
            open=self.open[np.ix_(present, keep)],
            high=self.high[np.ix_(present, keep)],
            low=self.low[np.ix_(present, keep)],
            close=self.close[np.ix_(present, keep)],
            volume=self.volume[np.ix_(present, keep)],
        )


def build_panel(series_list: Sequence[BarSeries], sectors: Mapping[str, str] | None = None) -> Panel:
    if not series_list:
        raise ValueError("a panel needs at least one symbol")
    symbols = tuple(series.symbol for series in series_list)
    if len(set(symbols)) != len(symbols):
        raise ValueError("each symbol may appear once in a panel")
    sessions = np.unique(np.concatenate([series.timestamps_ns for series in series_list]))
    shape = (sessions.size, len(series_list))
    columns = {name: np.full(shape, np.nan) for name in ("open", "high", "low", "close", "volume")}
    for column, series in enumerate(series_list):
        rows = np.searchsorted(sessions, series.timestamps_ns)
        for name, values in columns.items():
            values[rows, column] = getattr(series, name)
    sector_of = sectors or {}
    return Panel(
        symbols=symbols,
        sectors=tuple(sector_of.get(symbol, UNKNOWN_SECTOR) for symbol in symbols),
        sessions_ns=sessions.astype(np.int64),
        **columns,
    )
