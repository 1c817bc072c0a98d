"""The JSON both chart views draw: candles, indicator lines, markers at their bars, price levels.

Times are UTC epoch seconds of bar starts (what lightweight-charts takes); prices are floats for
drawing only — tables beside the charts show the exact decimal strings.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from trader.core.strategies.overlays import Overlay
from trader.core.strategies.series import BarSeries

NANOSECONDS = 1_000_000_000
MARKET_ZONE = ZoneInfo("America/New_York")


def epoch_seconds(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def candle_rows(series: BarSeries) -> list[dict[str, float]]:
    return [
        {"time": int(ns) // NANOSECONDS, "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for ns, o, h, lo, c, v in zip(
            series.timestamps_ns.tolist(),
            series.open.tolist(),
            series.high.tolist(),
            series.low.tolist(),
            series.close.tolist(),
            series.volume.tolist(),
            strict=True,
        )
    ]


def overlay_rows(overlays: Sequence[Overlay], series: BarSeries) -> list[dict[str, Any]]:
    times = [int(ns) // NANOSECONDS for ns in series.timestamps_ns.tolist()]
    return [
        {
            "name": overlay.name,
            "pane": overlay.pane,
            "levels": list(overlay.levels),
            "points": [
                {"time": time, "value": value}
                for time, value in zip(times, overlay.values.tolist(), strict=True)
                if math.isfinite(value)
            ],
        }
        for overlay in overlays
    ]


class BarLocator:
    """Which bar of a chart a moment falls in: the last bar starting at or before it, or none when
    the moment is before the first bar or after the last bar's end."""

    def __init__(self, bar_starts: Sequence[int], bar_seconds: int) -> None:
        self._starts = list(bar_starts)
        self._bar_seconds = bar_seconds

    def bar_of(self, moment: datetime) -> int | None:
        seconds = moment.timestamp()
        index = bisect_right(self._starts, seconds) - 1
        if index < 0:
            return None
        if index == len(self._starts) - 1 and seconds >= self._starts[index] + self._bar_seconds:
            return None
        return self._starts[index]


@dataclass(frozen=True, slots=True)
class Marker:
    """Something that happened at a bar: a signal, an order, a fill, a backtest entry or exit."""

    kind: str  # signal | order | fill | entry | exit
    side: str  # buy | sell
    at: datetime
    label: str
    price: float | None = None
    reference: str = ""

    def as_row(self, bar_time: int) -> dict[str, Any]:
        return {
            "time": bar_time,
            "kind": self.kind,
            "side": self.side,
            "at": self.at.isoformat(),
            "label": self.label,
            "price": self.price,
            "reference": self.reference,
        }


def marker_rows(markers: Sequence[Marker], locator: BarLocator) -> list[dict[str, Any]]:
    """Each marker at its bar, in time order; markers outside the chart's bars are left out."""
    rows = []
    for marker in sorted(markers, key=lambda item: item.at):
        bar_time = locator.bar_of(marker.at)
        if bar_time is not None:
            rows.append(marker.as_row(bar_time))
    return rows


def chart_payload(
    *,
    symbol: str,
    timeframe: str,
    bar_length: timedelta,
    series: BarSeries,
    overlays: Sequence[Overlay] = (),
    markers: Sequence[Marker] = (),
    levels: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    candles = candle_rows(series)
    locator = BarLocator([int(row["time"]) for row in candles], int(bar_length.total_seconds()))
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "bars": candles,
        "overlays": overlay_rows(overlays, series),
        "markers": marker_rows(markers, locator),
        "levels": list(levels),
    }


def drawdowns(equities: Sequence[Decimal]) -> list[Decimal]:
    """Fraction below the running peak at each point (0 at a new high, negative below it)."""
    result = []
    peak: Decimal | None = None
    for equity in equities:
        peak = equity if peak is None or equity > peak else peak
        result.append(equity / peak - 1 if peak > 0 else Decimal(0))
    return result


def day_returns(moments: Sequence[datetime], equities: Sequence[Decimal]) -> list[Decimal]:
    """Return since the market day began at each point: against the last equity of the day
    before (the first of the day when there is none), as the daily-loss limit counts it."""
    result = []
    day = None
    day_start = Decimal(0)
    previous: Decimal | None = None
    for moment, equity in zip(moments, equities, strict=True):
        market_day = moment.astimezone(MARKET_ZONE).date()
        if market_day != day:
            day = market_day
            day_start = previous if previous is not None else equity
        result.append(equity / day_start - 1 if day_start > 0 else Decimal(0))
        previous = equity
    return result


def equity_points(
    moments: Sequence[datetime], equities: Sequence[Decimal], cash: Sequence[Decimal] | None = None
) -> list[dict[str, str]]:
    """The equity chart's points: equity, drawdown from the peak and the day's return, as text."""
    downs = drawdowns(equities)
    days = day_returns(moments, equities)
    return [
        {
            "timestamp": moment.isoformat(),
            "equity": str(equity),
            **({} if cash is None else {"cash": str(cash[index])}),
            "drawdown": str(round(downs[index], 6)),
            "day_return": str(round(days[index], 6)),
        }
        for index, (moment, equity) in enumerate(zip(moments, equities, strict=True))
    ]
