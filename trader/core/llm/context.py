"""The point-in-time context a model is shown for a symbol at a bar's close.

Everything in it was known at the decision moment (the bar's close): the bars up to it, indicators
over them, the news published by then (`trader.core.news.known_at`), the position and the
portfolio's exposure. Prices are raw, as traded: adjusted prices would carry splits that happened
later, which is knowledge of the future. Numbers are written as fixed text so that the same
inputs give the same prompt, byte for byte, on any machine (the prompt's hash keys the answer cache).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from trader.core import indicators
from trader.core.market import Bar
from trader.core.news import NewsItem

INDICATOR_BARS = 50  # the longest indicator window (sma_50)
NO_VALUE = None


@dataclass(frozen=True, slots=True)
class Holding:
    """The symbol's position and the portfolio's exposure at the decision moment."""

    quantity: Decimal = Decimal(0)
    average_cost: Decimal | None = None
    gross_exposure: Decimal = Decimal(0)  # market value of all positions / equity
    positions_open: int = 0

    @property
    def is_long(self) -> bool:
        return self.quantity > 0


def _fixed(value: float, places: int = 4) -> str | None:
    return None if not math.isfinite(value) else f"{value:.{places}f}"


def _last(values: np.ndarray[Any, Any]) -> float:
    return float(values[-1]) if values.size else math.nan


def _indicators(bars: Sequence[Bar]) -> dict[str, str | None]:
    close = np.array([float(bar.close) for bar in bars], dtype=np.float64)
    high = np.array([float(bar.high) for bar in bars], dtype=np.float64)
    low = np.array([float(bar.low) for bar in bars], dtype=np.float64)
    volume = np.array([float(bar.volume) for bar in bars], dtype=np.float64)

    def change_pct(count: int) -> float:
        if close.size <= count or close[-1 - count] == 0:
            return math.nan
        return (float(close[-1]) / float(close[-1 - count]) - 1.0) * 100.0

    average_volume = _last(indicators.sma(volume, 20)) if volume.size >= 20 else math.nan
    return {
        "sma_20": _fixed(_last(indicators.sma(close, 20))) if close.size >= 20 else NO_VALUE,
        "sma_50": _fixed(_last(indicators.sma(close, 50))) if close.size >= 50 else NO_VALUE,
        "rsi_14": _fixed(_last(indicators.rsi(close, 14)), 2) if close.size > 14 else NO_VALUE,
        "atr_14": _fixed(_last(indicators.atr(high, low, close, 14))) if close.size > 14 else NO_VALUE,
        "return_5_bars_pct": _fixed(change_pct(5), 2),
        "return_20_bars_pct": _fixed(change_pct(20), 2),
        "volume_vs_20_bar_average": _fixed(volume[-1] / average_volume, 2)
        if average_volume and math.isfinite(average_volume)
        else NO_VALUE,
    }


def _bar(bar: Bar) -> dict[str, str]:
    return {
        "t": bar.timestamp.isoformat(),
        "o": format(bar.open, "f"),
        "h": format(bar.high, "f"),
        "l": format(bar.low, "f"),
        "c": format(bar.close, "f"),
        "v": format(bar.volume.normalize(), "f"),
    }


def _position(holding: Holding, price: Decimal) -> dict[str, Any]:
    unrealized = None
    if holding.quantity and holding.average_cost:
        unrealized = _fixed(float((price / holding.average_cost - 1) * 100), 2)
    return {
        "quantity": format(holding.quantity.normalize(), "f"),
        "average_cost": None if holding.average_cost is None else format(holding.average_cost, "f"),
        "unrealized_pnl_pct": unrealized,
    }


def decision_context(
    bars: Sequence[Bar],
    news: Sequence[NewsItem],
    holding: Holding,
    *,
    decided_at: datetime,
    context_bars: int,
    news_items: int,
) -> dict[str, Any]:
    """The context for the last of `bars` (oldest first, ending at the bar just closed).

    `news` must already be what was known at `decided_at`; the newest `news_items` are shown.
    """
    if not bars:
        raise ValueError("a decision needs at least one bar")
    last = bars[-1]
    late = [item.article_id for item in news if item.updated_at > decided_at or item.created_at > decided_at]
    if late:
        raise ValueError(f"news {late} was not published by {decided_at.isoformat()}")
    return {
        "symbol": last.symbol,
        "timeframe": last.timeframe.value,
        "decision_at": decided_at.isoformat(),
        "price": format(last.close, "f"),
        "bars": [_bar(bar) for bar in bars[-context_bars:]],
        "indicators": _indicators(bars),
        "news": [
            {
                "published_at": item.created_at.isoformat(),
                "headline": item.headline,
                "summary": item.summary,
                "source": item.source,
            }
            for item in list(news)[:news_items]
        ],
        "position": _position(holding, last.close),
        "portfolio": {
            "gross_exposure_pct": _fixed(float(holding.gross_exposure) * 100, 2),
            "positions_open": holding.positions_open,
        },
    }
