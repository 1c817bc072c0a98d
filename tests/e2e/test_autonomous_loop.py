"""`trader up` on a fresh checkout trades by itself: real replayed bars on the accelerated clock
produce signals, risk decisions, orders, fills and positions, with no keys and no servers."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.system import RunningSystem, start

pytestmark = pytest.mark.e2e
DEADLINE_SECONDS = 240


def _get(system: RunningSystem, service: str, path: str) -> Any:
    response = httpx.get(f"{system.url(service)}{path}", timeout=10)
    response.raise_for_status()
    return response.json()


def _counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        return {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("market_data", "signals", "risk_decisions", "trades", "fills", "positions")
        }


def test_the_embedded_default_trades_by_itself(tmp_path: Path) -> None:
    system = start(tmp_path, [["up"]])
    database = tmp_path / "data" / "trading_system.db"
    try:
        system.wait_healthy(timeout_seconds=60)
        started = time.monotonic()
        counts: dict[str, int] = {}
        while time.monotonic() - started < DEADLINE_SECONDS:
            counts = _counts(database)
            if counts["fills"] > 0 and counts["positions"] > 0 and counts["risk_decisions"] > 0:
                break
            time.sleep(2)
        elapsed = time.monotonic() - started
        assert counts["fills"] > 0, f"no fill within {DEADLINE_SECONDS}s: {counts}\n{system.output()}"
        replaying_share, rss_bytes = _footprint(system.processes[0].pid, seconds=20)
        # The same story through the endpoints the guide names.
        signals = _get(system, "strategy_engine", "/signals")
        decisions = _get(system, "risk_manager", "/risk/recent-decisions")
        orders = _get(system, "trade_executor", "/orders")
        account = _get(system, "trade_executor", "/account")
        clock = _get(system, "scheduler", "/market/clock")
    finally:
        codes = system.stop()
    assert codes == [0], system.output()
    assert signals and all(signal["direction"] in ("buy", "sell") for signal in signals)
    assert decisions["count"] > 0
    filled = [order for order in orders if order["status"] == "filled"]
    assert filled, orders
    # Every filled order went through a recorded risk decision and came from a stored signal.
    with sqlite3.connect(database) as connection:
        unlinked = connection.execute(
            "SELECT COUNT(*) FROM trades WHERE status = 'filled'"
            " AND (risk_decision_id IS NULL OR signal_id IS NULL)"
        ).fetchone()[0]
    assert unlinked == 0
    assert account["broker"] == "simulated"
    assert clock["timestamp"].startswith("20"), clock
    print(f"first fill and position after {elapsed:.0f}s of wall time: {counts}")
    print(f"while replaying: {replaying_share:.1%} of a core, {rss_bytes / 2**20:.0f} MiB resident")
    # The embedded default's memory budget, measured while it replays at full speed.
    assert rss_bytes < 2**30


def test_the_embedded_default_idles_between_bars(tmp_path: Path) -> None:
    """Under 5% of a core while waiting for the next bar. At the default 21600x a trading day passes
    every four seconds and there is no "between bars"; at 60x the first session's close is six
    minutes of wall time away, so the window below is the system waiting, as it does live."""
    system = start(tmp_path, [["up"]], REPLAY_SPEED="60")
    try:
        system.wait_healthy(timeout_seconds=60)
        _wait_for_history(tmp_path / "logs" / "data_collector.log", timeout_seconds=60)
        time.sleep(5)  # start-up work (history, first scheduler pass) settles
        cpu_share, rss_bytes = _footprint(system.processes[0].pid, seconds=20)
    finally:
        codes = system.stop()
    assert codes == [0], system.output()
    print(f"between bars: {cpu_share:.1%} of a core, {rss_bytes / 2**20:.0f} MiB resident")
    assert cpu_share < 0.05
    assert rss_bytes < 2**30


def _wait_for_history(log: Path, *, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if log.exists() and "are in market_data" in log.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"the collector never stored its replay history ({log})")


def _footprint(pid: int, *, seconds: float) -> tuple[float, int]:
    """Share of one core used over `seconds`, and resident memory, of one process (from /proc)."""
    ticks_per_second = os.sysconf("SC_CLK_TCK")

    def cpu_ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    before, started = cpu_ticks(), time.monotonic()
    time.sleep(seconds)
    used = (cpu_ticks() - before) / ticks_per_second / (time.monotonic() - started)
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return used, rss_pages * os.sysconf("SC_PAGE_SIZE")
