"""Executions as TradeNote's import template (one line per execution).

Columns and codes follow TradeNote's brokers/Template.csv: dates MM/DD/YYYY and times HH:mm:ss
in New York time, Side B (buy), S (sell), SS (sell short), BC (buy to cover); a fill that
crosses from long to short (or back) is split into its closing and opening parts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from zoneinfo import ZoneInfo

from trader.core.tax_lots import Execution

HEADER = (
    "Account",
    "T/D",
    "S/D",
    "Currency",
    "Type",
    "Side",
    "Symbol",
    "Qty",
    "Price",
    "Exec Time",
    "Comm",
    "SEC",
    "TAF",
    "NSCC",
    "Nasdaq",
    "ECN Remove",
    "ECN Add",
    "Gross Proceeds",
    "Net Proceeds",
    "Clr Broker",
    "Liq",
    "Note",
)
NEW_YORK = ZoneInfo("America/New_York")


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def tradenote_rows(executions: Iterable[Execution], *, account: str) -> Iterator[tuple[str, ...]]:
    position: dict[str, Decimal] = defaultdict(Decimal)
    for execution in sorted(executions, key=lambda e: e.executed_at):
        held = position[execution.symbol]
        parts: list[tuple[str, Decimal]] = []
        if execution.side == "buy":
            covering = min(execution.quantity, -held) if held < 0 else Decimal(0)
            if covering:
                parts.append(("BC", covering))
            if execution.quantity - covering:
                parts.append(("B", execution.quantity - covering))
            position[execution.symbol] = held + execution.quantity
        else:
            selling = min(execution.quantity, held) if held > 0 else Decimal(0)
            if selling:
                parts.append(("S", selling))
            if execution.quantity - selling:
                parts.append(("SS", execution.quantity - selling))
            position[execution.symbol] = held - execution.quantity
        local = execution.executed_at.astimezone(NEW_YORK)
        day = local.strftime("%m/%d/%Y")
        for side, quantity in parts:
            commission = execution.commission * quantity / execution.quantity
            gross = quantity * execution.price * (-1 if side in ("B", "BC") else 1)
            yield (
                account,
                day,
                day,
                "USD",
                "0",
                side,
                execution.symbol,
                _number(quantity),
                _number(execution.price),
                local.strftime("%H:%M:%S"),
                _number(commission.quantize(Decimal("0.0001"))),
                "0",
                "0",
                "0",
                "0",
                "0",
                "0",
                _number(gross.quantize(Decimal("0.0001"))),
                _number((gross - commission).quantize(Decimal("0.0001"))),
                "",
                "",
                execution.reference,
            )
