"""A drawdown halt outlives restarts: of the resources in one process, and of the service process."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner, Result

from tests.e2e.system import RunningSystem, start
from tests.integration.risk_manager.books import OPEN_MARKET_AT, client, seed_drawdown, signal
from tests.integration.risk_manager.conftest import risk_settings
from trader.adapters.bus.redis_streams import RedisStreamsBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.cli import app as cli_app
from trader.core.risk.reasons import ReasonCode
from trader.core.risk.state import TradingState
from trader.core.topics import SIGNALS
from trader.runtime.bootstrap import open_resources
from trader.services.risk_manager.app import build_risk_manager, create_app
from trader.services.risk_manager.worker import GROUP


async def test_halted_survives_closing_and_reopening_every_resource(sqlite_url: str, tmp_path: Path) -> None:
    settings = risk_settings(tmp_path, database_url=sqlite_url)
    clock = SimulatedClock(OPEN_MARKET_AT, speed=0)
    async with open_resources(settings, clock=clock) as resources:
        manager = build_risk_manager(resources, environment={})
        await manager.prepare()
        await seed_drawdown(resources.engine, clock.now())
        await manager.judge(signal("AAPL", "flat", Decimal(60), clock.now()))
        assert await manager.trading_state() is TradingState.HALTED

    async with open_resources(settings, clock=clock) as resources:
        manager = build_risk_manager(resources, environment={})
        async with client(create_app(resources, manager)) as http:
            state = (await http.get("/risk/trading-state")).json()
        closing = await manager.judge(signal("AAPL", "flat", Decimal(60), clock.now(), strategy_name="exit"))

    assert state["state"] == "halted" and state["changed_by"] == "risk_manager"
    assert "MAX_DRAWDOWN_REACHED" in state["reason"]
    assert closing.decision is not None and not closing.decision.approved
    assert closing.decision.codes[0] == ReasonCode.TRADING_HALTED.value


# The first session on or after REPLAY_START (Monday 4 January 2010, 09:30 New York).
REPLAY_OPENS_AT = datetime(2010, 1, 4, 14, 30, tzinfo=UTC)


def _wait_for(system: RunningSystem, path: str, done: Any, timeout_seconds: float = 45) -> Any:
    url = f"{system.url('risk_manager')}{path}"
    deadline = time.monotonic() + timeout_seconds
    last: Any = None
    while time.monotonic() < deadline:
        for process in system.processes:
            if process.poll() is not None:
                raise AssertionError(f"the risk manager exited with {process.returncode}:\n{system.output()}")
        try:
            response = httpx.get(url, timeout=2)
            last = response.json() if response.status_code == 200 else response.status_code
            if response.status_code == 200 and done(last):
                return last
        except httpx.HTTPError as error:
            last = type(error).__name__
        time.sleep(0.25)
    raise AssertionError(f"{path} never got there; last answer {last}\n{system.output()}")


@pytest.mark.e2e
async def test_the_service_process_halts_on_a_breach_and_is_still_halted_after_a_restart(
    tmp_path: Path, sqlite_url: str, redis_url: str
) -> None:
    engine = create_engine(sqlite_url)
    await seed_drawdown(engine, REPLAY_OPENS_AT)
    await engine.dispose()
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    bus = RedisStreamsBus(redis)
    # Created before the service starts, so signals published while it boots are not missed.
    await bus.ensure_group(SIGNALS, GROUP)
    # The embedded default's replay clock, slowed to wall speed so the seeded books stay "recent".
    environment = {
        "DATABASE_URL": sqlite_url,
        "REDIS_URL": redis_url,
        "REPLAY_START": REPLAY_OPENS_AT.date().isoformat(),
        "REPLAY_SPEED": "1",
    }
    try:
        first = start(tmp_path, [["serve", "risk_manager"]], **environment)
        try:
            await bus.publish(SIGNALS, signal("AAPL", "flat", Decimal(60), REPLAY_OPENS_AT))
            halted = await asyncio.to_thread(
                _wait_for, first, "/risk/trading-state", lambda b: b["state"] == "halted"
            )
        finally:
            assert first.stop() == [0], first.output()

        second = start(tmp_path, [["serve", "risk_manager"]], **environment)
        try:
            after_restart = await asyncio.to_thread(_wait_for, second, "/risk/trading-state", lambda b: True)
            await bus.publish(
                SIGNALS, signal("AAPL", "flat", Decimal(60), REPLAY_OPENS_AT, strategy_name="exit")
            )
            decisions = await asyncio.to_thread(
                _wait_for, second, "/risk/recent-decisions", lambda b: b["count"] == 2
            )
            url = second.url("risk_manager")
            refused = await asyncio.to_thread(
                _cli, "set-limits", "max_position_pct=20", "-r", "typo", "--url", url
            )
            resumed = await asyncio.to_thread(_cli, "resume", "-r", "loss reviewed", "--url", url)
            shown = await asyncio.to_thread(_cli, "state", "--json", "--url", url)
        finally:
            assert second.stop() == [0], second.output()
    finally:
        await redis.flushdb()
        await bus.close()

    assert "MAX_DRAWDOWN_REACHED" in halted["reason"]
    assert after_restart["state"] == "halted"
    newest = decisions["decisions"][0]
    assert newest["decision"] == "denied" and newest["codes"][0] == ReasonCode.TRADING_HALTED.value
    assert newest["trading_state"] == "halted"
    # The operator's commands: a nonsensical limit is refused with the reason; resuming works.
    assert refused.exit_code == 1 and "write 0.2 for 20%" in refused.output
    assert resumed.exit_code == 0, resumed.output
    assert shown.exit_code == 0 and json.loads(shown.output)["state"] == "active"


def _cli(*arguments: str) -> Result:
    return CliRunner().invoke(cli_app, ["risk", *arguments])
