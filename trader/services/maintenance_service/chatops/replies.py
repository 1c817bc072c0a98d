"""What the bot says: the system's figures as short, readable messages (no raw JSON)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from trader.core.orders import TERMINAL_STATUSES

_FINAL = {status.value for status in TERMINAL_STATUSES}
MAX_LINES = 25
HELP = (
    "/status — system health and trading state\n"
    "/positions — open positions with unrealised P&L\n"
    "/pnl — today's P&L, equity and drawdown\n"
    "/orders — open orders\n"
    "/halt [reason] — emergency shutdown: halt trading, cancel open orders\n"
    "/resume [reducing] <reason> — step trading back down from halted"
)


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: object, *, signed: bool = False) -> str:
    number = _decimal(value)
    if number is None:
        return "—"
    sign = "-" if number < 0 else "+" if signed and number > 0 else ""
    return f"{sign}${abs(number):,.2f}"


def quantity(value: object) -> str:
    number = _decimal(value)
    return "—" if number is None else f"{number.normalize():,f}"


def percent(fraction: object, *, signed: bool = False) -> str:
    number = _decimal(fraction)
    if number is None:
        return "—"
    return f"{'+' if signed and number > 0 else ''}{number * 100:.2f} %"


def status_text(system: dict[str, Any], state: dict[str, Any], metrics: dict[str, Any] | None) -> str:
    services = system.get("services", {})
    down = [name for name, service in services.items() if service.get("status") != "healthy"]
    lines = [
        f"System {system.get('status', 'unknown')}: "
        + (f"{len(services)} services healthy" if not down else f"not healthy: {', '.join(down)}"),
        f"Trading {str(state.get('trading_state', 'unknown')).upper()}"
        + (f" — {state['reason']}" if state.get("reason") else ""),
    ]
    mode = state.get("maintenance_mode") or {}
    if mode.get("enabled"):
        lines.append(f"Maintenance mode on: {mode.get('reason', '')}")
    if metrics is not None:
        lines.append(
            f"Equity {money(metrics.get('equity'))}, today {money(metrics.get('daily_pnl'), signed=True)}"
        )
    return "\n".join(lines)


def positions_text(positions: list[dict[str, Any]]) -> str:
    if not positions:
        return "No open position."
    lines = [
        f"{row['symbol']} {quantity(row.get('quantity'))} @ {money(row.get('average_cost'))}"
        f" · unrealised {money(row.get('unrealized_pnl'), signed=True)}"
        for row in positions[:MAX_LINES]
    ]
    if len(positions) > MAX_LINES:
        lines.append(f"… and {len(positions) - MAX_LINES} more")
    return "\n".join(lines)


def pnl_text(metrics: dict[str, Any], positions: list[dict[str, Any]]) -> str:
    unrealised = sum((_decimal(row.get("unrealized_pnl")) or Decimal(0) for row in positions), Decimal(0))
    return "\n".join(
        [
            f"Today {money(metrics.get('daily_pnl'), signed=True)}"
            f" ({percent(metrics.get('daily_return_pct'), signed=True)})",
            f"Equity {money(metrics.get('equity'))} · cash {money(metrics.get('cash'))}",
            f"Drawdown {percent(metrics.get('drawdown_pct'))} from peak {money(metrics.get('peak_equity'))}",
            f"Unrealised {money(unrealised, signed=True)} on {len(positions)} position(s)",
        ]
    )


def orders_text(orders: list[dict[str, Any]]) -> str:
    open_orders = [row for row in orders if row.get("status") not in _FINAL]
    if not open_orders:
        return "No open order."
    lines = []
    for row in open_orders[:MAX_LINES]:
        price = row.get("limit_price") or row.get("stop_price")
        lines.append(
            f"#{row['id']} {row['side']} {quantity(row.get('quantity'))} {row['symbol']} {row['order_type']}"
            + (f" @ {money(price)}" if price else "")
            + f" · {row['status']}"
        )
    return "\n".join(lines)


def state_change_text(result: dict[str, Any]) -> str:
    failed = [
        f"{name}: {step.get('detail', '')}"
        for name, step in result.get("steps", {}).items()
        if not step["ok"]
    ]
    text = f"Trading {str(result['state']).upper()} (was {result['previous_state']}): {result['reason']}"
    return text + ("\nSteps that failed: " + "; ".join(failed) if failed else "")
