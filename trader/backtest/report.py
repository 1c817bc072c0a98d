"""A self-contained HTML report of a backtest: metrics beside buy-and-hold of the same symbols
(same costs), equity and drawdown charts, trades, and the costs the run charged.

The charts are the dashboard's (report_charts, with the chart library inlined), so a backtest and
a live run look alike; plain SVG plots drawn here stand in where scripts do not run. The file
opens offline and loads nothing from a CDN.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from trader.backtest.engine import BacktestResult
from trader.backtest.metrics import PerformanceMetrics
from trader.backtest.report_charts import STYLE as CHART_STYLE
from trader.backtest.report_charts import chart_section
from trader.core.lookahead import LookaheadReport
from trader.core.strategies.base import Strategy
from trader.core.strategies.series import BarSeries, from_epoch_nanoseconds

FloatArray = NDArray[np.float64]
_WIDTH, _HEIGHT, _MARGIN = 900, 260, 48
_MAX_POINTS = 1_500
_MAX_TRADE_ROWS = 500

PERCENT_METRICS = ("total_return", "annual_return", "max_drawdown", "win_rate", "exposure")


def drawdown_curve(equity: FloatArray, initial: float) -> FloatArray:
    peaks = np.maximum(np.maximum.accumulate(equity), initial)
    result: FloatArray = equity / peaks - 1.0
    return result


def format_metric(name: str, value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if name in PERCENT_METRICS:
            return f"{value * 100:.2f}%"
        return f"{value:.3f}"
    return str(value)


def metric_rows(metrics: PerformanceMetrics) -> list[tuple[str, str]]:
    names = (
        "initial_equity",
        "final_equity",
        "total_return",
        "annual_return",
        "sharpe_ratio",
        "sortino_ratio",
        "calmar_ratio",
        "max_drawdown",
        "win_rate",
        "profit_factor",
        "exposure",
        "trade_count",
        "closed_trade_count",
    )
    return [(name, format_metric(name, getattr(metrics, name))) for name in names]


def _downsample(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    indices = np.arange(values.size, dtype=np.float64)
    if values.size <= _MAX_POINTS:
        return indices, values
    picked = np.unique(np.linspace(0, values.size - 1, _MAX_POINTS).astype(np.int64))
    return indices[picked], values[picked]


def _finite_points(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    x, y = _downsample(np.asarray(values, dtype=np.float64))
    finite = np.isfinite(y)
    return x[finite], y[finite]


def line_chart_svg(
    values: FloatArray,
    *,
    title: str,
    colour: str,
    label_format: str = "{:,.0f}",
    benchmark: FloatArray | None = None,
) -> str:
    """One series as an inline SVG polyline with min/max labels; `benchmark` (same length) is drawn
    beside it as a grey dashed line on the same scale."""
    x, y = _finite_points(values)
    if y.size == 0:
        return f"<p>{html.escape(title)}: no data</p>"
    bx, by = _finite_points(benchmark) if benchmark is not None else (x[:0], y[:0])
    low, high = float(min(y.min(), by.min(initial=np.inf))), float(max(y.max(), by.max(initial=-np.inf)))
    span = high - low or 1.0
    last = max(float(x[-1]), 1.0)
    inner_w, inner_h = _WIDTH - 2 * _MARGIN, _HEIGHT - 2 * _MARGIN

    def polyline(xs: FloatArray, ys: FloatArray) -> str:
        px = _MARGIN + xs / last * inner_w
        py = _MARGIN + (1.0 - (ys - low) / span) * inner_h
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px.tolist(), py.tolist(), strict=True))

    points = polyline(x, y)
    held = ""
    if by.size:
        held = (
            f'<polyline fill="none" stroke="#888" stroke-width="1.2" stroke-dasharray="4 3" '
            f'points="{polyline(bx, by)}"/>'
            f'<text x="{_WIDTH - _MARGIN - 220}" y="22" font-size="11" font-family="sans-serif" '
            'fill="#666">dashed: buy and hold, same costs</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{html.escape(title)}">'
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="#fff"/>'
        f'<text x="{_MARGIN}" y="22" font-size="14" font-family="sans-serif">{html.escape(title)}</text>'
        f'<line x1="{_MARGIN}" y1="{_HEIGHT - _MARGIN}" x2="{_WIDTH - _MARGIN}" y2="{_HEIGHT - _MARGIN}" '
        'stroke="#999"/>'
        f'<line x1="{_MARGIN}" y1="{_MARGIN}" x2="{_MARGIN}" y2="{_HEIGHT - _MARGIN}" stroke="#999"/>'
        f'<text x="4" y="{_MARGIN + 4}" font-size="10" font-family="sans-serif">'
        f"{html.escape(label_format.format(high))}</text>"
        f'<text x="4" y="{_HEIGHT - _MARGIN}" font-size="10" font-family="sans-serif">'
        f"{html.escape(label_format.format(low))}</text>"
        f"{held}"
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'
        "</svg>"
    )


def compared_metric_rows(
    strategy: PerformanceMetrics, held: PerformanceMetrics
) -> list[tuple[str, str, str]]:
    return [
        (name, value, held_value)
        for (name, value), (_, held_value) in zip(metric_rows(strategy), metric_rows(held), strict=True)
    ]


def costs_rows(config: Mapping[str, object]) -> list[tuple[str, str]]:
    """The costs a run charged, from `BacktestConfig.describe()`."""
    commission = config.get("commission")
    fees = config.get("regulatory_fees")
    rows = [("fill rule", str(config.get("fill_rule"))), ("slippage (bps)", str(config.get("slippage_bps")))]
    if isinstance(commission, Mapping):
        rows.append(
            (
                "commission",
                f"{commission['per_share']}/share + {commission['rate']} of notional, "
                f"min {commission['minimum']}",
            )
        )
    if isinstance(fees, Mapping):
        rows.append(("SEC fee (per $ sold)", str(fees["sec_fee_rate"])))
        taf = f"{fees['taf_per_share']}, max {fees['taf_max_per_trade']} per trade"
        rows.append(("FINRA TAF (per share sold)", taf))
    return rows


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _date(nanoseconds: int) -> str:
    return from_epoch_nanoseconds(nanoseconds).strftime("%Y-%m-%d %H:%M")


def render_report(
    result: BacktestResult,
    *,
    title: str,
    parameters: Mapping[str, object] | None = None,
    lookahead: LookaheadReport | None = None,
    generated_at: datetime | None = None,
    series: Sequence[BarSeries] = (),
    strategy: Strategy | None = None,
) -> str:
    metrics = result.metrics
    held = result.buy_and_hold()
    initial = float(metrics.initial_equity)
    drawdown = drawdown_curve(result.equity, initial)
    stamp = result.stamp
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{_date(int(result.timestamps_ns[0]))} → {_date(int(result.timestamps_ns[-1]))}, "
        f"{result.timestamps_ns.size} bars, symbols {html.escape(', '.join(result.trades.symbols))}</p>",
        "<h2>Metrics</h2>",
        "<p>Buy and hold: the starting cash split equally between the same symbols, bought at the "
        "first fill and held to the end, with the same costs.</p>",
        _table(compared_metric_rows(metrics, held.metrics), ("metric", "strategy", "buy and hold")),
        chart_section(result, series=series, strategy=strategy),
        "<noscript>",
        line_chart_svg(result.equity, title="Equity", colour="#1f77b4", benchmark=held.equity),
        line_chart_svg(
            drawdown * 100.0,
            title="Drawdown (%)",
            colour="#d62728",
            label_format="{:.1f}%",
            benchmark=drawdown_curve(held.equity, initial) * 100.0,
        ),
        "</noscript>",
        "<h2>Costs</h2>",
        _table(costs_rows(result.config.describe()), ("cost", "value")),
    ]
    if lookahead is not None:
        verdict = "passed" if lookahead.passed else f"FAILED ({len(lookahead.violations)} signals changed)"
        sections.append(
            f"<h2>Look-ahead check</h2><p>{html.escape(verdict)} on "
            f"{len(lookahead.checked_lengths)} truncated histories</p>"
        )
    records = result.trades.records()[:_MAX_TRADE_ROWS]
    trade_rows = [
        (
            trade.symbol,
            trade.entry_at.strftime("%Y-%m-%d %H:%M"),
            str(trade.entry_price),
            trade.exit_at.strftime("%Y-%m-%d %H:%M") if trade.exit_at else "open",
            "" if trade.exit_price is None else str(trade.exit_price),
            str(trade.quantity),
            str(trade.commission + trade.fees),
            "" if trade.profit is None else str(trade.profit),
            trade.exit_reason.value,
        )
        for trade in records
    ]
    shown = f", first {_MAX_TRADE_ROWS}" if len(result.trades) > _MAX_TRADE_ROWS else ""
    sections += [
        f"<h2>Trades ({len(result.trades)}{shown})</h2>",
        _table(
            trade_rows,
            ("symbol", "entry", "entry price", "exit", "exit price", "quantity", "costs", "profit", "exit"),
        ),
        "<h2>Run</h2>",
        _table(
            [
                ("run id", stamp.run_id),
                ("strategy", stamp.strategy_name),
                ("parameters", stamp.parameters),
                ("data hash", stamp.data_hash),
                ("code version", stamp.code_version),
                ("seed", str(stamp.seed)),
                *([("strategy parameters", repr(dict(parameters)))] if parameters else []),
                ("generated at", (generated_at or datetime.fromtimestamp(0, UTC)).isoformat()),
            ],
            ("field", "value"),
        ),
    ]
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
        "td:first-child{text-align:left}" + CHART_STYLE
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        + "".join(sections)
        + "</body></html>"
    )
