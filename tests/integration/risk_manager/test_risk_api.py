"""The risk manager's HTTP API: open reads; admin-only, validated, audited changes that write nothing
when refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.risk_manager.books import (
    OPEN_MARKET_AT,
    client,
    insert_daily_bars,
    insert_position,
    seed_drawdown,
    signal,
    wavy_closes,
)
from tests.integration.risk_manager.conftest import ADMIN_TOKEN, SECRET, risk_settings
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.tables import audit_logs, risk_parameters, trading_states
from trader.services.common.resources import Resources
from trader.services.common.security import issue_token
from trader.services.risk_manager.app import build_risk_manager, create_app
from trader.services.risk_manager.handlers import RiskManager

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def api(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, RiskManager]]:
    bus = InMemoryBus()
    async with httpx.AsyncClient() as http:
        resources = Resources(
            settings=risk_settings(tmp_path),
            engine=engine,
            bus=bus,
            clock=SimulatedClock(OPEN_MARKET_AT, speed=0),
            http=http,
        )
        manager = build_risk_manager(resources, environment={"RISK_MAX_POSITION_SIZE": "0.2"})
        await manager.prepare()
        async with client(create_app(resources, manager)) as test_client:
            yield test_client, manager
    await bus.close()


async def _count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_limits_start_from_the_environment_as_version_one(
    api: tuple[httpx.AsyncClient, RiskManager],
) -> None:
    http, _ = api
    body = (await http.get("/risk/limits")).json()
    assert body["version"] == 1
    assert body["updated_by"] == "environment"
    assert Decimal(body["limits"]["max_position_pct"]) == Decimal("0.2")


async def test_a_limits_change_needs_admin_and_is_versioned_with_who_and_why(
    api: tuple[httpx.AsyncClient, RiskManager], engine: AsyncEngine
) -> None:
    http, _ = api
    change = {"limits": {"max_position_pct": "0.08"}, "reason": "smaller positions"}
    anonymous = await http.put("/risk/limits", json=change)
    reader = issue_token(SECRET, "bob", "read", 3600)
    forbidden = await http.put("/risk/limits", json=change, headers={"Authorization": f"Bearer {reader}"})
    accepted = await http.put("/risk/limits", json=change, headers=ADMIN)

    assert anonymous.status_code == 401
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["message"]
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (
        body["version"] == 2 and body["updated_by"] == "api_token" and body["reason"] == "smaller positions"
    )
    assert Decimal(body["limits"]["max_position_pct"]) == Decimal("0.08")
    history = (await http.get("/risk/limits/history")).json()["versions"]
    assert [item["version"] for item in history] == [2, 1]
    async with engine.connect() as connection:
        actions = (await connection.execute(select(audit_logs.c.action, audit_logs.c.success))).all()
    assert ("risk.limits.update", True) in {(row.action, row.success) for row in actions}


@pytest.mark.parametrize(
    ("limits", "reason", "fragment"),
    [
        ({"max_position_pct": "20"}, "oops", "write 0.2 for 20%"),
        ({"max_drawdown_pct": "-0.1"}, "oops", "max_drawdown_pct must be a fraction"),
        ({"max_open_positions": "many"}, "oops", "max_open_positions must be a whole number"),
        ({"max_postion_pct": "0.1"}, "typo", "unknown risk limit(s): max_postion_pct"),
        ({"min_order_notional": "500", "max_order_notional": "100"}, "swap", "must be greater than"),
        ({"max_position_pct": "0.1"}, "   ", "needs a reason"),
        ({}, "nothing", "no limits given"),
    ],
)
async def test_nonsensical_limits_are_refused_with_the_reason_and_nothing_is_written(
    api: tuple[httpx.AsyncClient, RiskManager],
    engine: AsyncEngine,
    limits: dict[str, str],
    reason: str,
    fragment: str,
) -> None:
    http, _ = api
    response = await http.put("/risk/limits", json={"limits": limits, "reason": reason}, headers=ADMIN)

    assert response.status_code == 422
    assert fragment in response.json()["message"]
    assert await _count(engine, risk_parameters) == 1


async def test_a_malformed_body_is_a_422_that_writes_nothing(
    api: tuple[httpx.AsyncClient, RiskManager], engine: AsyncEngine
) -> None:
    http, _ = api
    missing_reason = await http.put(
        "/risk/limits", json={"limits": {"max_position_pct": "0.1"}}, headers=ADMIN
    )
    bad_state = await http.put("/risk/trading-state", json={"state": "paused", "reason": "x"}, headers=ADMIN)
    no_reason = await http.put("/risk/trading-state", json={"state": "halted", "reason": ""}, headers=ADMIN)

    assert missing_reason.status_code == 422 and "reason" in missing_reason.json()["message"]
    assert bad_state.status_code == 422 and "state" in bad_state.json()["message"]
    assert no_reason.status_code == 422
    assert await _count(engine, risk_parameters) == 1
    assert await _count(engine, trading_states) == 0


async def test_trading_state_is_halted_and_resumed_by_an_admin_with_a_reason(
    api: tuple[httpx.AsyncClient, RiskManager], engine: AsyncEngine
) -> None:
    http, _ = api
    assert (await http.get("/risk/trading-state")).json()["state"] == "active"
    anonymous = await http.put("/risk/trading-state", json={"state": "halted", "reason": "drill"})
    halted = await http.put("/risk/trading-state", json={"state": "halted", "reason": "drill"}, headers=ADMIN)
    blank = await http.put("/risk/trading-state", json={"state": "active", "reason": "  "}, headers=ADMIN)
    resumed = await http.put(
        "/risk/trading-state", json={"state": "active", "reason": "drill over"}, headers=ADMIN
    )
    again = await http.put("/risk/trading-state", json={"state": "active", "reason": "twice"}, headers=ADMIN)

    assert anonymous.status_code == 401
    assert halted.status_code == 200 and halted.json()["state"] == "halted"
    assert blank.status_code == 422 and "reason" in blank.json()["message"]
    assert resumed.status_code == 200 and resumed.json()["previous_state"] == "halted"
    assert again.status_code == 422 and "already active" in again.json()["message"]
    state = (await http.get("/risk/trading-state")).json()
    assert state["state"] == "active" and state["changed_by"] == "api_token"
    assert [item["state"] for item in state["history"]] == ["active", "halted"]
    assert await _count(engine, trading_states) == 2


async def test_metrics_and_position_limits_describe_the_books(
    api: tuple[httpx.AsyncClient, RiskManager], engine: AsyncEngine
) -> None:
    http, manager = api
    now = manager.clock.now()
    await seed_drawdown(engine, now)
    await insert_position(engine, "MSFT", Decimal(10), Decimal(50), now - timedelta(days=2))
    # Closes on the same timestamps as AAPL's, so the holdings' history lines up for the VaR.
    await insert_daily_bars(engine, "MSFT", wavy_closes(30, start=50), now - timedelta(minutes=30))

    metrics = (await http.get("/risk/current-metrics")).json()
    limits = (await http.get("/risk/position-limits")).json()

    msft_value = Decimal(10) * wavy_closes(30, start=50)[-1]
    equity = Decimal(50000) + Decimal(500) * Decimal(60) + msft_value
    assert Decimal(metrics["equity"]) == equity
    assert Decimal(metrics["peak_equity"]) == Decimal(100000)
    assert Decimal(metrics["drawdown_pct"]) == ((Decimal(100000) - equity) / Decimal(100000)).quantize(
        Decimal("0.000001")
    )
    assert Decimal(metrics["daily_pnl"]) == equity - Decimal(80000)
    assert metrics["open_positions"] == 2 and metrics["trading_state"] == "active"
    assert Decimal(metrics["var_95"]["amount"]) > 0 and metrics["var_95"]["observations"] == 29
    assert set(metrics["concentration"]["sectors"]) == {"Information Technology"}
    rows = {row["symbol"]: row for row in limits["positions"]}
    assert list(rows) == ["AAPL", "MSFT"]  # largest share first
    aapl = rows["AAPL"]
    cap = Decimal("0.2") * equity
    assert Decimal(aapl["headroom_value"]) == max(cap - Decimal(30000), Decimal(0)).quantize(Decimal("0.01"))
    assert Decimal(rows["MSFT"]["headroom_value"]) == (cap - msft_value).quantize(Decimal("0.01"))


async def test_recent_decisions_filter_by_symbol_decision_and_reason(
    api: tuple[httpx.AsyncClient, RiskManager], engine: AsyncEngine
) -> None:
    http, manager = api
    now = manager.clock.now()
    await insert_daily_bars(engine, "AAPL", wavy_closes(30), now - timedelta(days=1))
    await manager.judge(signal("AAPL", "buy", Decimal(100), now))
    # A strategy asking for a short, with shorting off.
    await manager.judge(signal("IBM", "short", Decimal(150), now))

    everything = (await http.get("/risk/recent-decisions")).json()
    approved = (await http.get("/risk/recent-decisions", params={"decision": "approved"})).json()
    shorts = (await http.get("/risk/recent-decisions", params={"reason": "SHORTING_NOT_ALLOWED"})).json()
    by_symbol = (await http.get("/risk/recent-decisions", params={"symbol": "ibm"})).json()
    bad_reason = await http.get("/risk/recent-decisions", params={"reason": "NOT_A_CODE"})
    bad_symbol = await http.get("/risk/recent-decisions", params={"symbol": "$$$"})

    assert everything["count"] == 2
    assert [item["symbol"] for item in approved["decisions"]] == ["AAPL"]
    assert [item["symbol"] for item in shorts["decisions"]] == ["IBM"]
    assert by_symbol["decisions"][0]["reasons"][0].startswith("SHORTING_NOT_ALLOWED: IBM")
    assert by_symbol["decisions"][0]["portfolio"]["equity"] == "100000.00"
    assert bad_reason.status_code == 422 and bad_symbol.status_code == 422
    scrape = (await http.get("/metrics")).text
    assert 'risk_denials_total{reason="SHORTING_NOT_ALLOWED"} 1.0' in scrape
    assert "risk_approvals_total 1.0" in scrape
    assert "trading_state 0.0" in scrape
