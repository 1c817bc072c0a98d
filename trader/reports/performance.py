"""Performance report: equity curve beside buy-and-hold of the same symbols, drawdown, monthly
returns and a per-strategy breakdown, as HTML (and as text for the operator's script).

Pure: it takes the equity series, the realised lots and the buy-and-hold curve as values and
returns a page with inline SVG charts (no JavaScript, no network), so the file opens anywhere and
can be mailed.
"""

from __future__ import annotations

import html
import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

import numpy as np

from trader.backtest.metrics import compute_metrics
from trader.core.risk.market_figures import TRADING_DAYS_PER_YEAR
from trader.core.tax_lots import Execution, RealisedLot

MAX_CHART_POINTS = 800


@dataclass(frozen=True, slots=True)
class StrategyFigures:
    strategy: str
    closed_lots: int
    winners: int
    realised_pnl: Decimal
    best: Decimal
    worst: Decimal

    @property
    def win_rate(self) -> float:
        return self.winners / self.closed_lots if self.closed_lots else 0.0


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    title: str
    start: datetime | None
    end: datetime | None
    equity: tuple[tuple[datetime, float], ...]
    drawdown: tuple[tuple[datetime, float], ...]
    monthly_returns: dict[int, dict[int, float]]
    strategies: tuple[StrategyFigures, ...]
    figures: dict[str, str] = field(default_factory=dict)
    # The symbols traded, bought with the starting equity and held, with the same costs.
    buy_and_hold: tuple[tuple[datetime, float], ...] = ()


def drawdown_series(equity: Sequence[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    peak = -math.inf
    series = []
    for moment, value in equity:
        peak = max(peak, value)
        series.append((moment, value / peak - 1 if peak > 0 else 0.0))
    return series


def monthly_returns(equity: Sequence[tuple[datetime, float]]) -> dict[int, dict[int, float]]:
    """{year: {month: return}} from month-end equity, each month against the previous month's end."""
    month_end: dict[tuple[int, int], float] = {}
    for moment, value in equity:
        month_end[(moment.year, moment.month)] = value
    returns: dict[int, dict[int, float]] = defaultdict(dict)
    previous = equity[0][1] if equity else None
    for (year, month), value in sorted(month_end.items()):
        if previous:
            returns[year][month] = value / previous - 1
        previous = value
    return dict(returns)


def _daily_closes(equity: Sequence[tuple[datetime, float]]) -> list[float]:
    closes: dict[object, float] = {}
    for moment, value in equity:
        closes[moment.date()] = value
    return list(closes.values())


def strategy_breakdown(lots: Sequence[RealisedLot]) -> list[StrategyFigures]:
    grouped: dict[str, list[Decimal]] = defaultdict(list)
    for lot in lots:
        grouped[lot.group or "(none)"].append(lot.gain)
    return [
        StrategyFigures(
            strategy=name,
            closed_lots=len(gains),
            winners=sum(1 for gain in gains if gain > 0),
            realised_pnl=sum(gains, Decimal(0)),
            best=max(gains),
            worst=min(gains),
        )
        for name, gains in sorted(grouped.items())
    ]


def build_performance_report(
    equity: Sequence[tuple[datetime, Decimal]],
    lots: Sequence[RealisedLot],
    *,
    title: str,
    start: datetime | None,
    end: datetime | None,
    buy_and_hold: Sequence[tuple[datetime, float]] = (),
    buy_and_hold_symbols: Sequence[str] = (),
) -> PerformanceReport:
    series = [(moment, float(value)) for moment, value in equity]
    drawdowns = drawdown_series(series)
    figures: dict[str, str] = {}
    if len(series) >= 2:
        first, last = series[0][1], series[-1][1]
        figures["Start equity"] = f"{first:,.2f}"
        figures["End equity"] = f"{last:,.2f}"
        figures["Total return"] = f"{last / first - 1:+.2%}" if first else "n/a"
        figures["Max drawdown"] = f"{min(d for _, d in drawdowns):.2%}"
        closes = _daily_closes(series)
        daily = [b / a - 1 for a, b in itertools.pairwise(closes) if a]
        if len(daily) >= 2:
            mean = sum(daily) / len(daily)
            deviation = math.sqrt(sum((r - mean) ** 2 for r in daily) / (len(daily) - 1))
            figures["Sharpe (daily, annualised)"] = (
                f"{mean / deviation * math.sqrt(TRADING_DAYS_PER_YEAR):.2f}" if deviation else "n/a"
            )
    figures.update(buy_and_hold_figures(buy_and_hold, buy_and_hold_symbols))
    realised = sum((lot.gain for lot in lots), Decimal(0))
    figures["Realised P&L (FIFO)"] = f"{realised:,.2f}"
    figures["Closed lots"] = str(len(lots))
    if lots:
        figures["Win rate"] = f"{sum(1 for lot in lots if lot.gain > 0) / len(lots):.1%}"
    return PerformanceReport(
        title=title,
        start=start,
        end=end,
        equity=tuple(series),
        drawdown=tuple(drawdowns),
        monthly_returns=monthly_returns(series),
        strategies=tuple(strategy_breakdown(lots)),
        figures=figures,
        buy_and_hold=tuple(buy_and_hold),
    )


def buy_and_hold_figures(curve: Sequence[tuple[datetime, float]], symbols: Sequence[str]) -> dict[str, str]:
    if len(curve) < 2:
        missing = f"no stored bars of {', '.join(symbols)}" if symbols else "no symbol traded"
        return {"Buy and hold": f"not computed: {missing} in the period"}
    first, last = curve[0][1], curve[-1][1]
    return {
        "Buy and hold: symbols": ", ".join(symbols),
        "Buy and hold: end equity": f"{last:,.2f}",
        "Buy and hold: total return": f"{last / first - 1:+.2%}" if first else "n/a",
        "Buy and hold: max drawdown": f"{min(d for _, d in drawdown_series(curve)):.2%}",
    }


def _thin(points: Sequence[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    if len(points) <= MAX_CHART_POINTS:
        return list(points)
    step = math.ceil(len(points) / MAX_CHART_POINTS)
    kept = list(points[::step])
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


def svg_line_chart(
    points: Sequence[tuple[datetime, float]],
    *,
    label: str,
    colour: str,
    percent: bool,
    benchmark: Sequence[tuple[datetime, float]] = (),
) -> str:
    """One series as an SVG polyline; `benchmark` is drawn beside it, grey and dashed, on one scale."""
    width, height, pad = 900, 260, 48
    if len(points) < 2:
        return f'<p class="empty">{html.escape(label)}: not enough data in the period.</p>'
    points = _thin(points)
    benchmark = _thin(benchmark) if len(benchmark) >= 2 else []
    t0 = points[0][0].timestamp()
    span = (points[-1][0].timestamp() - t0) or 1.0
    low = min(value for _, value in [*points, *benchmark])
    high = max(value for _, value in [*points, *benchmark])
    if high == low:
        high, low = high + 1, low - 1

    def x(moment: datetime) -> float:
        return pad + (moment.timestamp() - t0) / span * (width - 2 * pad)

    def y(value: float) -> float:
        return height - pad - (value - low) / (high - low) * (height - 2 * pad)

    path = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in points)
    held = ""
    if benchmark:
        # Clipped to the chart's time span: the benchmark's bars may start before the first snapshot.
        shown = [(m, v) for m, v in benchmark if points[0][0] <= m <= points[-1][0]]
        held_path = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in shown)
        held = (
            f'<polyline fill="none" stroke="#888" stroke-width="1.2" stroke-dasharray="4 3" '
            f'points="{held_path}"/>'
            f'<text x="{width - pad - 220}" y="20" class="axis">dashed: buy and hold, same costs</text>'
        )

    def fmt(value: float) -> str:
        return f"{value:.1%}" if percent else f"{value:,.0f}"

    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(label)}">'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>'
        f'<text x="{pad}" y="20" class="axis">{html.escape(label)}</text>'
        f'<text x="4" y="{y(high) + 4:.1f}" class="axis">{fmt(high)}</text>'
        f'<text x="4" y="{y(low) + 4:.1f}" class="axis">{fmt(low)}</text>'
        f'<text x="{pad}" y="{height - 16}" class="axis">{points[0][0].date().isoformat()}</text>'
        f'<text x="{width - pad - 70}" y="{height - 16}" class="axis">'
        f"{points[-1][0].date().isoformat()}</text>"
        f"{held}"
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
        "</svg>"
    )


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}
td.name,th.name{text-align:left}.pos{color:#0a7a2f}.neg{color:#b3261e}.axis{font-size:12px;fill:#555}
svg{width:100%;max-width:900px;border:1px solid #eee}.empty{color:#777}
"""


def _signed_cell(value: float | Decimal, text: str) -> str:
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<td class="{css}">{html.escape(text)}</td>'


def render_performance_html(report: PerformanceReport, *, generated_at: datetime) -> str:
    period = " to ".join(
        moment.date().isoformat() if moment else "…" for moment in (report.start, report.end)
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        f"<p>Period: {html.escape(period)} · generated {generated_at.isoformat(timespec='seconds')}</p>",
        "<h2>Summary</h2><table>",
        *(
            f'<tr><th class="name">{html.escape(name)}</th><td>{html.escape(value)}</td></tr>'
            for name, value in report.figures.items()
        ),
        "</table><h2>Equity curve</h2>",
        svg_line_chart(
            report.equity, label="Equity", colour="#1f5fbf", percent=False, benchmark=report.buy_and_hold
        ),
        "<h2>Drawdown</h2>",
        svg_line_chart(
            report.drawdown,
            label="Drawdown from peak",
            colour="#b3261e",
            percent=True,
            benchmark=drawdown_series(report.buy_and_hold),
        ),
        "<h2>Monthly returns</h2>",
    ]
    if report.monthly_returns:
        parts.append('<table id="monthly-returns"><tr><th class="name">Year</th>')
        parts += [f"<th>{month}</th>" for month in _MONTHS]
        parts.append("<th>Year</th></tr>")
        for year, months in sorted(report.monthly_returns.items()):
            parts.append(f'<tr><td class="name">{year}</td>')
            compounded = 1.0
            for month in range(1, 13):
                if month in months:
                    compounded *= 1 + months[month]
                    parts.append(_signed_cell(months[month], f"{months[month]:+.2%}"))
                else:
                    parts.append("<td></td>")
            parts.append(_signed_cell(compounded - 1, f"{compounded - 1:+.2%}") + "</tr>")
        parts.append("</table>")
    else:
        parts.append('<p class="empty">No account snapshots in the period.</p>')
    parts.append("<h2>By strategy (realised, FIFO)</h2>")
    if report.strategies:
        parts.append(
            '<table id="strategies"><tr><th class="name">Strategy</th><th>Closed lots</th><th>Win rate</th>'
            "<th>Realised P&amp;L</th><th>Best</th><th>Worst</th></tr>"
        )
        for row in report.strategies:
            parts.append(
                f'<tr><td class="name">{html.escape(row.strategy)}</td><td>{row.closed_lots}</td>'
                f"<td>{row.win_rate:.1%}</td>"
                + _signed_cell(row.realised_pnl, f"{row.realised_pnl:,.2f}")
                + _signed_cell(row.best, f"{row.best:,.2f}")
                + _signed_cell(row.worst, f"{row.worst:,.2f}")
                + "</tr>"
            )
        parts.append("</table>")
    else:
        parts.append('<p class="empty">No closed lots in the period.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# The operator's text report (scripts/monitoring/performance_report.py)


@dataclass(frozen=True, slots=True)
class TradingActivity:
    """What was traded in the period: orders by status and the fills' notionals."""

    order_statuses: dict[str, int]
    fill_count: int
    bought_notional: Decimal
    sold_notional: Decimal
    commissions: Decimal  # everything charged beyond the prices, regulatory fees included
    regulatory_fees: Decimal = Decimal(0)


def trading_activity(order_statuses: Sequence[str], executions: Sequence[Execution]) -> TradingActivity:
    counts: dict[str, int] = defaultdict(int)
    for status in order_statuses:
        counts[status] += 1
    return TradingActivity(
        order_statuses=dict(sorted(counts.items())),
        fill_count=len(executions),
        bought_notional=sum((e.quantity * e.price for e in executions if e.side == "buy"), Decimal(0)),
        sold_notional=sum((e.quantity * e.price for e in executions if e.side == "sell"), Decimal(0)),
        commissions=sum((e.commission for e in executions), Decimal(0)),
        regulatory_fees=sum((e.regulatory_fees for e in executions), Decimal(0)),
    )


def _ratio(value: float, style: str) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, style)


def metric_figures(
    equity: Sequence[tuple[datetime, Decimal]], lots: Sequence[RealisedLot], *, trade_count: int
) -> dict[str, str]:
    """The backtester's metrics over the daily closes of the account's equity (one definition of
    annualised return, Sortino, Calmar and profit factor for backtests and live books alike)."""
    closes = _daily_closes([(moment, float(value)) for moment, value in equity])
    if not closes or closes[0] <= 0:
        return {}
    gains = np.array([float(lot.gain) for lot in lots], dtype=np.float64)
    metrics = compute_metrics(
        equity=np.array(closes, dtype=np.float64),
        initial_cash=closes[0],
        trade_profit=gains,
        exposure=math.nan,
        periods_per_year=float(TRADING_DAYS_PER_YEAR),
        trade_count=trade_count,
    )
    figures = {
        "Trading days": str(len(closes)),
        "Annualised return": _ratio(metrics.annual_return, "+.2%"),
        "Sortino (daily, annualised)": _ratio(metrics.sortino_ratio, ".2f"),
        "Calmar": _ratio(metrics.calmar_ratio, ".2f"),
    }
    if lots:
        figures["Profit factor"] = _ratio(metrics.profit_factor, ".2f")
    return figures


def with_figures(report: PerformanceReport, extra: dict[str, str]) -> PerformanceReport:
    return replace(report, figures={**report.figures, **extra})


def render_performance_text(
    report: PerformanceReport, activity: TradingActivity, *, generated_at: datetime
) -> str:
    period = " to ".join(
        moment.isoformat(timespec="seconds") if moment else "…" for moment in (report.start, report.end)
    )
    width = max((len(name) for name in report.figures), default=10) + 2
    lines = [
        report.title,
        "=" * len(report.title),
        f"Period:    {period}",
        f"Generated: {generated_at.isoformat(timespec='seconds')}",
        "",
        "Account",
        "-------",
    ]
    if len(report.equity) < 2:
        lines.append(f"{len(report.equity)} account snapshot(s) in the period: no returns to compute.")
    lines += [f"{name:<{width}}{value}" for name, value in report.figures.items()]
    lines += [f"{'Account snapshots':<{width}}{len(report.equity)}", "", "Trading", "-------"]
    statuses = ", ".join(f"{status} {count}" for status, count in activity.order_statuses.items())
    lines += [
        f"{'Orders':<{width}}{sum(activity.order_statuses.values())}{f' ({statuses})' if statuses else ''}",
        f"{'Fills':<{width}}{activity.fill_count}",
        f"{'Bought':<{width}}{activity.bought_notional:,.2f}",
        f"{'Sold':<{width}}{activity.sold_notional:,.2f}",
        f"{'Commissions and fees':<{width}}{activity.commissions:,.2f}",
        f"{'  of which regulatory':<{width}}{activity.regulatory_fees:,.2f}",
        "",
        "By strategy (realised, FIFO)",
        "----------------------------",
    ]
    if report.strategies:
        name_width = max(len("Strategy"), *(len(row.strategy) for row in report.strategies)) + 2
        lines.append(
            f"{'Strategy':<{name_width}}{'Lots':>6}{'Win rate':>10}{'Realised P&L':>16}"
            f"{'Best':>14}{'Worst':>14}"
        )
        lines += [
            f"{row.strategy:<{name_width}}{row.closed_lots:>6}{row.win_rate:>10.1%}"
            f"{row.realised_pnl:>16,.2f}{row.best:>14,.2f}{row.worst:>14,.2f}"
            for row in report.strategies
        ]
    else:
        lines.append("No closed lots in the period.")
    return "\n".join(lines) + "\n"
