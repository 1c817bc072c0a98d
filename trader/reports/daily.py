"""The daily summary: one trading day's orders, fills, P&L, signals and risk decisions, as a dict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from trader.core.tax_lots import Execution, RealisedLot


@dataclass(frozen=True, slots=True)
class DayActivity:
    day: date
    order_statuses: Sequence[str]
    executions: Sequence[Execution]  # the day's fills
    realised: Sequence[RealisedLot]  # lots closed that day (matched over all history)
    signal_directions: Sequence[str]
    decisions: Sequence[tuple[str, Sequence[str]]]  # (approved|denied, reason codes)
    equity: Sequence[tuple[datetime, Decimal]]  # the day's account snapshots


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def daily_summary(activity: DayActivity) -> dict[str, Any]:
    bought = sum((e.quantity * e.price for e in activity.executions if e.side == "buy"), Decimal(0))
    sold = sum((e.quantity * e.price for e in activity.executions if e.side == "sell"), Decimal(0))
    commissions = sum((e.commission for e in activity.executions), Decimal(0))
    denial_reasons: Counter[str] = Counter()
    for decision, reasons in activity.decisions:
        if decision == "denied":
            denial_reasons.update(reasons)
    by_symbol: Counter[str] = Counter()
    for execution in activity.executions:
        by_symbol[execution.symbol] += 1
    realised = sum((lot.gain for lot in activity.realised), Decimal(0))
    summary: dict[str, Any] = {
        "date": activity.day.isoformat(),
        "orders": {
            "total": len(activity.order_statuses),
            "by_status": dict(Counter(activity.order_statuses)),
        },
        "fills": {
            "count": len(activity.executions),
            "bought_notional": _money(bought),
            "sold_notional": _money(sold),
            "commissions": _money(commissions),
            "most_traded": dict(by_symbol.most_common(5)),
        },
        "realised_pnl": _money(realised),
        "closed_lots": len(activity.realised),
        "winning_lots": sum(1 for lot in activity.realised if lot.gain > 0),
        "signals": {"total": len(activity.signal_directions), **Counter(activity.signal_directions)},
        "risk_decisions": {
            "approved": sum(1 for decision, _ in activity.decisions if decision == "approved"),
            "denied": sum(1 for decision, _ in activity.decisions if decision == "denied"),
            "top_denial_reasons": dict(denial_reasons.most_common(5)),
        },
    }
    if activity.equity:
        first, last = activity.equity[0][1], activity.equity[-1][1]
        summary["equity"] = {
            "open": _money(first),
            "close": _money(last),
            "change": _money(last - first),
            "change_pct": f"{(last / first - 1) * 100:.2f}" if first else None,
        }
    return summary
