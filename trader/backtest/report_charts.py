"""The backtest report's charts, drawn by the dashboard's own chart builder so a backtest and a
live run look alike: equity with drawdown and the day's return, and per symbol the candles with
the strategy's lines and each round trip's entry and exit at its bar.

The chart library and builder are inlined, so the report stays one file that opens offline.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from trader.backtest.engine import BacktestResult
from trader.charts.assets import inline_scripts
from trader.charts.payload import NANOSECONDS, Marker, chart_payload, equity_points
from trader.core.strategies.base import Strategy
from trader.core.strategies.overlays import overlays_of
from trader.core.strategies.series import BarSeries, from_epoch_nanoseconds

MAX_EQUITY_POINTS = 5_000
MAX_SYMBOL_CHARTS = 8
_DRAW = """
const data = JSON.parse(document.getElementById("chart-data").textContent);
TraderCharts.equity(document.getElementById("equity-chart"), data.equity, null, {dark: false});
data.symbols.forEach((payload, index) => {
  TraderCharts.candles(document.getElementById("candles-" + index), payload, {dark: false});
});
"""
STYLE = ".chart-box{position:relative;width:100%;max-width:1100px;height:360px;margin:8px 0 24px}"


def _equity(result: BacktestResult) -> list[dict[str, str]]:
    stride = max(1, -(-result.equity.size // MAX_EQUITY_POINTS))
    picked = list(range(0, result.equity.size, stride))
    if picked[-1] != result.equity.size - 1:
        picked.append(result.equity.size - 1)
    moments = [from_epoch_nanoseconds(int(result.timestamps_ns[index])) for index in picked]
    equities = [Decimal(repr(round(float(result.equity[index]), 2))) for index in picked]
    return equity_points(moments, equities)


def _bar_length(series: BarSeries) -> timedelta:
    steps = np.diff(series.timestamps_ns)
    return timedelta(seconds=int(steps.min()) / NANOSECONDS if steps.size else 86_400)


def _round_trips(result: BacktestResult, symbol: str) -> list[Marker]:
    markers = []
    for trade in result.trades.records():
        if trade.symbol != symbol:
            continue
        long = trade.quantity > 0
        size = f"{abs(trade.quantity).normalize():f}"
        markers.append(
            Marker(
                "entry", "buy" if long else "sell", trade.entry_at, f"entry {size}", float(trade.entry_price)
            )
        )
        if trade.exit_at is not None and trade.exit_price is not None:
            markers.append(
                Marker(
                    "exit", "sell" if long else "buy", trade.exit_at, f"exit {size}", float(trade.exit_price)
                )
            )
    return markers


def _symbol_payload(result: BacktestResult, series: BarSeries, strategy: Strategy | None) -> dict[str, Any]:
    return chart_payload(
        symbol=series.symbol,
        timeframe="",
        bar_length=_bar_length(series),
        series=series,
        overlays=overlays_of(strategy, series) if strategy is not None else (),
        markers=_round_trips(result, series.symbol),
    )


def chart_section(
    result: BacktestResult, *, series: Sequence[BarSeries] = (), strategy: Strategy | None = None
) -> str:
    """The charts' HTML: their holders, their data and the inlined scripts that draw them."""
    shown = [one for one in series if len(one) > 1][:MAX_SYMBOL_CHARTS]
    data = {
        "equity": _equity(result),
        "symbols": [_symbol_payload(result, one, strategy) for one in shown],
    }
    holders = [
        '<h2>Equity, drawdown and the day\'s return</h2><div class="chart-box" id="equity-chart"></div>'
    ]
    for index, one in enumerate(shown):
        holders.append(
            f"<h2>{html.escape(one.symbol)}: bars, entries and exits</h2>"
            f'<div class="chart-box" id="candles-{index}"></div>'
        )
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        "".join(holders)
        + f'<script type="application/json" id="chart-data">{payload}</script>'
        + inline_scripts()
        + f"<script>{_DRAW}</script>"
    )
