"""The guide's remedy `python scripts/data/cleanup_old_data.py --days 30`, run on a running system
(the embedded default, replaying), deletes old bars but never the ones an enabled strategy or a
model needs: it says what it kept and why, and every enabled strategy goes on trading."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.system import RunningSystem, start

pytestmark = pytest.mark.e2e
REPOSITORY = Path(__file__).resolve().parents[2]
SYMBOLS = ("AAPL", "MSFT")
DEADLINE_SECONDS = 240


def _get(system: RunningSystem, service: str, path: str) -> Any:
    response = httpx.get(f"{system.url(service)}{path}", timeout=10)
    response.raise_for_status()
    return response.json()


def _query(database: Path, sql: str, *parameters: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql, parameters).fetchall()


def _wait_for(condition: Any, what: str, system: RunningSystem) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"{what} within {DEADLINE_SECONDS}s\n{system.output()}")


def _trading_after(database: Path, strategy: str, moment: str) -> bool:
    """The strategy signalled on a bar after `moment` and an order of it was filled after it."""
    signalled = _query(
        database,
        "SELECT COUNT(*) FROM signals WHERE strategy_name = ? AND bar_timestamp > ?",
        strategy,
        moment,
    )[0][0]
    filled = _query(
        database,
        "SELECT COUNT(*) FROM fills JOIN trades ON trades.id = fills.trade_id "
        "WHERE trades.strategy_name = ? AND fills.timestamp > ?",
        strategy,
        moment,
    )[0][0]
    return bool(signalled and filled)


def test_cleanup_keeps_what_the_strategies_need_and_every_enabled_strategy_still_trades(
    tmp_path: Path,
) -> None:
    system = start(
        tmp_path,
        [["up"]],
        DATA_WATCHLIST=",".join(SYMBOLS),
        STRATEGY_DEFAULT_PARAMETERS=json.dumps({"fast_window": 3, "slow_window": 8}),
        MODEL_TRAINING_MAX_BARS="300",
    )
    database = tmp_path / "data" / "trading_system.db"
    try:
        system.wait_healthy(timeout_seconds=90)
        _wait_for(lambda: _query(database, "SELECT COUNT(*) FROM fills")[0][0] > 0, "no fill", system)
        before = dict(_query(database, "SELECT symbol, COUNT(*) FROM market_data GROUP BY symbol"))
        cleanup = subprocess.run(
            [sys.executable, "scripts/data/cleanup_old_data.py", "--days", "30"],
            cwd=REPOSITORY,
            env=system.environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
        # On the replay clock, "30 days" are 30 days of the replayed time, and the output says so.
        assert "replay clock" in cleanup.stdout, cleanup.stdout
        cut = max(row[0] for row in _query(database, "SELECT MAX(timestamp) FROM market_data"))
        after = dict(_query(database, "SELECT symbol, COUNT(*) FROM market_data GROUP BY symbol"))
        enabled = [
            item
            for item in _get(system, "strategy_engine", "/strategies/list")["strategies"]
            if item["enabled"]
        ]
        assert enabled, "no enabled strategy to watch"
        for symbol in SYMBOLS:
            # Years of history went; the newest 300 bars (model training, more than the strategy's
            # lookback of 9) stayed, and the output says so and why.
            assert before[symbol] > 1000 and 300 <= after[symbol] < before[symbol], (before, after)
            assert (
                f"{symbol}: kept " in cleanup.stdout and "model training: newest 300 bars" in cleanup.stdout
            )
            assert "strategy default: lookback 9 + 1 1day bars" in cleanup.stdout, cleanup.stdout
        assert "retention kept AAPL: kept" in (tmp_path / "logs" / "trader.log").read_text()

        # Trading goes on: each enabled strategy signals on newer bars and its orders fill.
        for strategy in enabled:
            _wait_for(
                lambda name=strategy["name"]: _trading_after(database, name, cut),
                f"strategy {strategy['name']} did not trade after the clean-up",
                system,
            )
        status = _get(system, "strategy_engine", "/strategies/data-status")
        health = _get(system, "strategy_engine", "/health")
    finally:
        codes = system.stop()
    assert codes == [0], system.output()
    enabled_rows = [row for row in status["symbols"] if row["enabled"]]
    assert enabled_rows and all(row["ready"] for row in enabled_rows), status
    assert health["components"]["strategy_data"]["status"] == "up", health
    print(f"bars per symbol before the clean-up {before}, after it {after}")
