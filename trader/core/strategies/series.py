"""Bars of one symbol as columns of float64 arrays: what strategies and the backtester read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from trader.core.market import Bar

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_nanoseconds(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        raise ValueError(f"timestamps must be aware UTC, got {moment!r}")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def from_epoch_nanoseconds(nanoseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=nanoseconds // 1_000)


def _adjusted(prices: Sequence[Decimal], factors: Sequence[Decimal | int]) -> list[float]:
    """Each price times its factor, exactly in Decimal, then as a float."""
    return [float(price * factor) for price, factor in zip(prices, factors, strict=True)]


@dataclass(frozen=True, slots=True, eq=False)
class BarSeries:
    """OHLCV columns of one symbol, oldest first; `timestamps_ns` are UTC epoch nanoseconds of bar starts.

    Prices are whatever series the caller chose (adjusted by default in `from_bars`); the arrays
    are shared, not copied, so callers must not mutate them afterwards.
    """

    symbol: str
    timestamps_ns: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        size = self.timestamps_ns.shape
        if self.timestamps_ns.ndim != 1:
            raise ValueError("bar columns must be one-dimensional")
        for name in ("open", "high", "low", "close", "volume"):
            column = getattr(self, name)
            if column.shape != size:
                raise ValueError(f"column {name} has shape {column.shape}, timestamps have {size}")
            if column.dtype != np.float64:
                raise ValueError(f"column {name} must be float64, got {column.dtype}")
        if self.timestamps_ns.dtype != np.int64:
            raise ValueError(f"timestamps must be int64 epoch nanoseconds, got {self.timestamps_ns.dtype}")
        if size[0] > 1 and not bool(np.all(np.diff(self.timestamps_ns) > 0)):
            raise ValueError(f"{self.symbol}: timestamps must be strictly increasing")

    @classmethod
    def from_arrays(
        cls,
        symbol: str,
        timestamps_ns: object,
        open: object,
        high: object,
        low: object,
        close: object,
        volume: object,
    ) -> BarSeries:
        return cls(
            symbol=symbol,
            timestamps_ns=np.asarray(timestamps_ns, dtype=np.int64),
            open=np.asarray(open, dtype=np.float64),
            high=np.asarray(high, dtype=np.float64),
            low=np.asarray(low, dtype=np.float64),
            close=np.asarray(close, dtype=np.float64),
            volume=np.asarray(volume, dtype=np.float64),
        )

    @classmethod
    def from_bars(cls, bars: Sequence[Bar], *, adjusted: bool = True) -> BarSeries:
        """Columns from Bar records of one symbol; prices multiplied by `adjustment_factor` if `adjusted`."""
        if not bars:
            raise ValueError("need at least one bar")
        symbol = bars[0].symbol
        if any(bar.symbol != symbol for bar in bars):
            raise ValueError("a BarSeries holds one symbol")
        return cls.from_decimal_columns(
            symbol,
            [bar.timestamp for bar in bars],
            [bar.open for bar in bars],
            [bar.high for bar in bars],
            [bar.low for bar in bars],
            [bar.close for bar in bars],
            [bar.volume for bar in bars],
            factors=[bar.adjustment_factor for bar in bars] if adjusted else None,
        )

    @classmethod
    def from_decimal_columns(
        cls,
        symbol: str,
        timestamps: Sequence[datetime],
        open: Sequence[Decimal],
        high: Sequence[Decimal],
        low: Sequence[Decimal],
        close: Sequence[Decimal],
        volume: Sequence[Decimal],
        *,
        factors: Sequence[Decimal] | None,
    ) -> BarSeries:
        """Columns from exact prices (oldest first), each price multiplied by its factor (by 1 when
        `factors` is None) in Decimal before it becomes a float. `from_bars` and the live strategy
        engine's window read both come through here, so their floats are the same bit for bit."""
        multipliers: Sequence[Decimal | int] = [1] * len(timestamps) if factors is None else factors
        return cls.from_arrays(
            symbol,
            [to_epoch_nanoseconds(moment) for moment in timestamps],
            _adjusted(open, multipliers),
            _adjusted(high, multipliers),
            _adjusted(low, multipliers),
            _adjusted(close, multipliers),
            [float(amount) for amount in volume],
        )

    def __len__(self) -> int:
        return int(self.timestamps_ns.shape[0])

    def slice(self, start: int, stop: int) -> BarSeries:
        """Bars [start, stop) as views of the same arrays."""
        return BarSeries(
            symbol=self.symbol,
            timestamps_ns=self.timestamps_ns[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
        )

    def head(self, count: int) -> BarSeries:
        """The first `count` bars: history as it stood when bar `count - 1` closed."""
        return self.slice(0, count)

    def tail(self, count: int) -> BarSeries:
        return self.slice(max(0, len(self) - count), len(self))

    def timestamp_at(self, index: int) -> datetime:
        return from_epoch_nanoseconds(int(self.timestamps_ns[index]))
