"""Run the live system and `trader backtest --through-risk` over one replay window and compare them
trade by trade (used by tests/e2e/test_parity.py on a small window and bench/parity on a large one)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from tests.e2e.system import RunningSystem, environment_for, start
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.db.tables import fills, market_data, risk_decisions, signals, trades

HISTORY_LINE = re.compile(r"replay: \d+ sample bars of \d+ symbols up to (\S+) are in market_data")
STRATEGY = "sma_crossover"


@dataclass(frozen=True)
class Window:
    symbols: tuple[str, ...]
    first_day: date
    sessions: int
    parameters: dict[str, int]
    speed: float
    starting_cash: Decimal = Decimal(100_000)
    # More settings for both runs (e.g. RISK_STOP_LOSS_PCT: every entry a bracket).
    settings: dict[str, str] = field(default_factory=dict)

    def environment(self, workdir: Path) -> dict[str, str]:
        return {
            **self.settings,
            "REPLAY_START": self.first_day.isoformat(),
            "REPLAY_SPEED": str(self.speed),
            "DATA_WATCHLIST": ",".join(self.symbols),
            "STRATEGY_DEFAULT_TYPE": STRATEGY,
            "STRATEGY_DEFAULT_PARAMETERS": json.dumps(self.parameters),
            "SIMULATED_STARTING_CASH": str(self.starting_cash),
            "RISK_SECTOR_MAP_PATH": str(workdir / "config" / "sector_map.csv"),
        }


@dataclass
class Comparison:
    live_orders: list[dict[str, Any]]
    backtest_orders: list[dict[str, Any]]
    live_fills: list[tuple[Any, ...]]
    backtest_fills: list[tuple[Any, ...]]
    live_equity: Decimal
    backtest_equity: Decimal
    late: list[str] = field(default_factory=list)

    @property
    def mismatches(self) -> list[str]:
        found = []
        for index, (live, backtest) in enumerate(zip(self.live_orders, self.backtest_orders, strict=False)):
            if live != backtest:
                found.append(f"decision {index}: live {live} != backtest {backtest}")
        if len(self.live_orders) != len(self.backtest_orders):
            found.append(
                f"{len(self.live_orders)} live decisions, {len(self.backtest_orders)} in the backtest"
            )
        for index, (live_fill, backtest_fill) in enumerate(
            zip(self.live_fills, self.backtest_fills, strict=False)
        ):
            if live_fill != backtest_fill:
                found.append(f"fill {index}: live {live_fill} != backtest {backtest_fill}")
        if len(self.live_fills) != len(self.backtest_fills):
            found.append(f"{len(self.live_fills)} live fills, {len(self.backtest_fills)} in the backtest")
        if self.live_equity != self.backtest_equity:
            found.append(f"final equity: live {self.live_equity} != backtest {self.backtest_equity}")
        return found


def window_sessions(window: Window) -> list[Any]:
    calendar = XNYSCalendar()
    return list(
        calendar.sessions_between(window.first_day, window.first_day + timedelta(days=window.sessions * 3))
    )


def history_cut(system: RunningSystem, timeout_seconds: float) -> datetime:
    """Where the collector's replay began: bars closed by then were stored as history."""
    log = system.workdir / "logs" / "data_collector.log"
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if log.exists():
            found = HISTORY_LINE.search(log.read_text())
            if found:
                return datetime.fromisoformat(found.group(1)).astimezone(UTC)
        time.sleep(0.2)
    raise AssertionError(f"the collector never logged its replay start\n{system.output()}")


def _engine(workdir: Path) -> Any:
    return create_engine(f"sqlite:///{workdir / 'data' / 'trading_system.db'}")


def wait_for_bars_until(system: RunningSystem, moment: datetime, timeout_seconds: float) -> None:
    engine = _engine(system.workdir)
    deadline = time.monotonic() + timeout_seconds
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                latest = connection.execute(select(func.max(market_data.c.timestamp))).scalar()
            if latest is not None and latest >= moment:
                return
            time.sleep(0.5)
    finally:
        engine.dispose()
    raise AssertionError(f"the replay did not reach {moment.isoformat()} in time\n{system.output()}")


def run_backtest(
    window: Window, workdir: Path, ports: dict[str, int], history_until: datetime, last: date
) -> Any:
    out = workdir / "backtest.json"
    command = [
        sys.executable,
        "-m",
        "trader.cli",
        "backtest",
        STRATEGY,
        *[arg for name, value in window.parameters.items() for arg in ("-p", f"{name}={value}")],
        "--symbols",
        ",".join(window.symbols),
        "--through-risk",
        "--start",
        window.first_day.isoformat(),
        "--end",
        (last + timedelta(days=1)).isoformat(),
        "--history-until",
        history_until.isoformat(),
        "--json",
        str(out),
    ]
    environment = environment_for(workdir, ports, **window.environment(workdir))
    done = subprocess.run(command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"trader backtest --through-risk failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(out.read_text())


def live_books(workdir: Path, last_close: datetime, starting_cash: Decimal) -> tuple[Any, ...]:
    engine = _engine(workdir)
    calendar = XNYSCalendar()
    try:
        with engine.connect() as connection:
            decisions = (
                connection.execute(
                    select(risk_decisions, signals.c.bar_timestamp, signals.c.direction)
                    .join(signals, signals.c.id == risk_decisions.c.signal_id)
                    .order_by(risk_decisions.c.id)
                )
                .mappings()
                .all()
            )
            orders = {
                row.risk_decision_id: row
                for row in connection.execute(select(trades).where(trades.c.risk_decision_id.is_not(None)))
            }
            fill_rows = (
                connection.execute(
                    select(fills, trades.c.client_order_id)
                    .join(trades, trades.c.id == fills.c.trade_id)
                    .order_by(fills.c.timestamp, fills.c.id)
                )
                .mappings()
                .all()
            )
            closes = {
                row.symbol: row.close_price
                for row in connection.execute(
                    select(market_data.c.symbol, market_data.c.close_price, market_data.c.timestamp)
                    .where(market_data.c.timestamp < last_close)
                    .order_by(market_data.c.timestamp)
                )
            }
    finally:
        engine.dispose()
    live_orders, late = [], []
    for row in decisions:
        bar_at = row["bar_timestamp"].astimezone(UTC)
        session = calendar.session_for(bar_at.date())
        assert session is not None
        if session.close_at > last_close:
            continue
        next_open = calendar.next_open(session.close_at)
        order = orders.get(row["id"])
        if row["timestamp"] >= next_open:
            late.append(
                f"decision on {row['symbol']} {bar_at.date()} made at {row['timestamp']}, after {next_open}"
            )
        if order is not None and order.timestamp >= next_open:
            late.append(
                f"order {order.client_order_id} sent at {order.timestamp}, after the open {next_open}"
            )
        rejected = None if order is None or order.status != "rejected" else order.error_message
        live_orders.append(
            {
                "signal_bar_at": bar_at.isoformat(),
                "symbol": row["symbol"],
                "side": row["side"],
                "quantity": format(row["quantity"].normalize(), "f"),
                "decision": row["decision"],
                "reasons": list(row["reasons"]),
                "client_order_id": None if order is None else order.client_order_id,
                "rejected": rejected,
                "cash": row["portfolio_snapshot"]["portfolio"]["cash"],
                "equity": row["portfolio_snapshot"]["portfolio"]["equity"],
            }
        )
    live_fills: list[tuple[Any, ...]] = []
    cash = starting_cash
    held: dict[str, Decimal] = {}
    for row in fill_rows:
        if row["timestamp"] > last_close:
            continue
        quantity, price = row["quantity"], row["price"]
        live_fills.append(
            (
                row["client_order_id"],
                row["symbol"],
                row["side"],
                quantity.normalize(),
                price.normalize(),
                row["commission"].normalize(),
                row["regulatory_fees"].normalize(),
                row["timestamp"].astimezone(UTC),
            )
        )
        signed = quantity if row["side"] == "buy" else -quantity
        cash -= signed * price + row["commission"] + row["regulatory_fees"]
        held[row["symbol"]] = held.get(row["symbol"], Decimal(0)) + signed
    equity = cash + sum((q * closes[s] for s, q in held.items() if q), Decimal(0))
    return live_orders, live_fills, equity.quantize(Decimal("0.01")), late


def backtest_books(result: dict[str, Any]) -> tuple[Any, ...]:
    orders = [
        {
            "signal_bar_at": order["signal_bar_at"],
            "symbol": order["symbol"],
            "side": order["side"],
            "quantity": format(Decimal(order["quantity"]).normalize(), "f"),
            "decision": order["decision"],
            "reasons": order["reasons"],
            "client_order_id": order["client_order_id"],
            "rejected": order["broker_message"],
            "cash": order["portfolio"]["cash"],
            "equity": order["portfolio"]["equity"],
        }
        for order in result["orders"]
    ]
    fills_ = [
        (
            fill["client_order_id"],
            fill["symbol"],
            fill["side"],
            Decimal(fill["quantity"]).normalize(),
            Decimal(fill["price"]).normalize(),
            Decimal(fill["commission"]).normalize(),
            Decimal(fill["regulatory_fees"]).normalize(),
            datetime.fromisoformat(fill["filled_at"]).astimezone(UTC),
        )
        for fill in result["fills"]
    ]
    return orders, fills_, Decimal(result["equity"]).quantize(Decimal("0.01"))


def compare(
    window: Window, workdir: Path, *, settle_sessions: int = 2, timeout_seconds: float = 600
) -> Comparison:
    """Start `trader up`, let it replay the window (plus `settle_sessions` so the last session's work
    is done), stop it, run the backtest over the same window and settings, and line both up."""
    sessions = window_sessions(window)
    system = start(workdir, [["up"]], **window.environment(workdir))
    try:
        system.wait_healthy(timeout_seconds=90)
        cut = history_cut(system, timeout_seconds=60)
        replayed = [session for session in sessions if session.close_at > cut]
        last = replayed[window.sessions - 1]
        wait_for_bars_until(system, replayed[window.sessions - 1 + settle_sessions].open_at, timeout_seconds)
    finally:
        codes = system.stop()
    assert codes == [0], system.output()
    live_orders, live_fills, live_equity, late = live_books(workdir, last.close_at, window.starting_cash)
    result = run_backtest(window, workdir, system.ports, cut, last.open_at.date())
    backtest_orders, backtest_fills, backtest_equity = backtest_books(result)
    return Comparison(
        live_orders, backtest_orders, live_fills, backtest_fills, live_equity, backtest_equity, late
    )
