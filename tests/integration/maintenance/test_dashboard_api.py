"""The dashboard's API on SQLite and PostgreSQL: a symbol's chart (the collector's bars, the
strategy's lines, signals/orders/fills at the bars they belong to, stop and cost levels), bad
input answered 4xx with the reason, and the action relay (token checked and audited here, the
change made and audited by the owning service)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import insert
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.conftest import _truncate_all
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.audit import AuditStore
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.stores.strategies import StrategyConfig, StrategyConfigStore
from trader.adapters.db.tables import fills, positions, signals, trades
from trader.core.indicators import sma
from trader.core.market import Bar, Timeframe
from trader.runtime.bootstrap import open_resources
from trader.services.common.resources import Resources
from trader.services.data_collector.app import create_app as create_collector
from trader.services.maintenance_service.app import create_app as create_maintenance
from trader.services.strategy_engine.app import create_app as create_strategy_engine
from trader.services.trade_executor.app import create_app as create_executor
from trader.settings import Settings

API_TOKEN = "dashboard-api-token-" + "k" * 30
SESSIONS = [datetime(2024, 1, day, 14, 30, tzinfo=UTC) for day in (2, 3, 4, 5, 8)]  # Tue..Mon
HOUR = timedelta(hours=1)
CLOSES = [Decimal(value) for value in ("100", "102", "101", "105", "107")]


@pytest.fixture(params=["sqlite", "postgres"])
async def resources(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Resources]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    if request.param == "postgres":
        engine = create_engine(url)
        await _truncate_all(engine)
        await engine.dispose()
    settings = Settings(
        _env_file=None,
        database_url=url,
        log_dir=tmp_path,
        api_token=API_TOKEN,
        allow_unauthenticated_loopback=False,
    )
    async with open_resources(settings) as opened:
        yield opened


def by_port(resources: Resources, apps: dict[str, ASGIApp]) -> httpx.AsyncClient:
    """The services' real apps in this process, each reached at its own URL, as over the network."""
    ports = {resources.settings.port_of(name): app for name, app in apps.items()}

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        await ports[scope["server"][1]](scope, receive, send)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=route))


def local(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.0.0.7", 50000)), base_url="http://t"
    )


async def _store_history(resources: Resources) -> None:
    bars = [
        Bar("AAPL", Timeframe.DAY1, at, close - 1, close + 1, close - 2, close, Decimal(1000))
        for at, close in zip(SESSIONS, CLOSES, strict=True)
    ]
    await MarketDataStore(resources.engine).upsert_bars(bars)
    await StrategyConfigStore(resources.engine).create(
        StrategyConfig(
            "trend", "sma_crossover", {"fast_window": 2, "slow_window": 3}, ["AAPL"], "1day", True, "t"
        ),
        SESSIONS[0],
    )
    day2_close = SESSIONS[1] + timedelta(hours=6, minutes=30)
    order = {
        "broker": "simulated",
        "symbol": "AAPL",
        "order_type": "market",
        "time_in_force": "day",
        "quantity": Decimal(10),
        "updated_at": day2_close,
    }
    async with resources.engine.begin() as connection:
        await connection.execute(
            insert(signals).values(
                event_id="sig-1", strategy_name="trend", symbol="AAPL", timeframe="1day",
                bar_timestamp=SESSIONS[1], direction="buy", strength=Decimal(1), price=CLOSES[1],
                timestamp=day2_close,
            )
        )  # fmt: skip
        entry_id = (
            await connection.execute(
                insert(trades).values(
                    client_order_id="trend-aapl-entry",
                    side="buy",
                    status="filled",
                    timestamp=day2_close,
                    **order,
                )
            )
        ).inserted_primary_key[0]
        await connection.execute(
            insert(trades).values(
                client_order_id="trend-aapl-stop", side="sell", status="accepted", timestamp=SESSIONS[3],
                parent_trade_id=entry_id, stop_price=Decimal("95.5"), **{**order, "order_type": "stop"},
            )
        )  # fmt: skip
        fill = {"trade_id": entry_id, "symbol": "AAPL", "side": "buy", "quantity": Decimal(5)}
        late = SESSIONS[4] + timedelta(days=1)  # after the last bar's session: not on these bars
        await connection.execute(
            insert(fills),
            [
                {**fill, "execution_id": "x-1", "price": Decimal("101.5"), "timestamp": SESSIONS[2]},
                {**fill, "execution_id": "x-2", "price": Decimal("101.7"), "timestamp": SESSIONS[2] + HOUR},
                {**fill, "execution_id": "x-3", "price": Decimal("108"), "timestamp": late},
            ],
        )
        await connection.execute(
            insert(positions).values(
                symbol="AAPL", quantity=Decimal(10), average_cost=Decimal("101.6"), updated_at=SESSIONS[2]
            )
        )


async def test_the_chart_puts_what_happened_on_the_bars_it_happened_in(resources: Resources) -> None:
    await _store_history(resources)
    await resources.http.aclose()
    resources.http = by_port(resources, {"data_collector": create_collector(resources)})
    async with local(create_maintenance(resources)) as http:
        response = await http.get("/api/dashboard/chart", params={"symbol": "aapl", "timeframe": "1day"})
    assert response.status_code == 200, response.text
    chart = response.json()
    times = [int(at.timestamp()) for at in SESSIONS]
    assert [bar["time"] for bar in chart["bars"]] == times
    assert [bar["close"] for bar in chart["bars"]] == [float(close) for close in CLOSES]
    assert (chart["strategy"], chart["strategy_type"]) == ("trend", "sma_crossover")
    lines = {line["name"]: line for line in chart["overlays"]}
    expected = sma(np.array([float(close) for close in CLOSES]), 3)
    assert [point["value"] for point in lines["SMA 3"]["points"]] == pytest.approx(expected[2:].tolist())
    assert [point["time"] for point in lines["SMA 3"]["points"]] == times[2:]
    placed = [(marker["kind"], marker["time"], marker["reference"]) for marker in chart["markers"]]
    assert placed == [
        ("signal", times[1], "sig-1"),
        ("order", times[1], "trend-aapl-entry"),
        ("fill", times[2], "trend-aapl-entry"),
        ("fill", times[2], "trend-aapl-entry"),
        ("order", times[3], "trend-aapl-stop"),
    ]
    levels = {(level["kind"], level["price"]) for level in chart["levels"]}
    assert levels == {("stop", 95.5), ("average_cost", 101.6)}


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"symbol": "ZZZZ"}, 404, "unknown symbol ZZZZ"),
        ({"symbol": "AAPL", "timeframe": "2min"}, 422, "unknown timeframe '2min'"),
        ({"symbol": "AAPL", "timeframe": "5min"}, 422, "cannot be built from the stored 1day bars"),
        ({"symbol": "AA PL!"}, 422, "malformed symbol"),
        ({"symbol": "AAPL", "strategy": "nope"}, 404, "nope"),
        ({"symbol": "AAPL", "limit": "1"}, 422, "limit"),
    ],
)
async def test_bad_chart_requests_get_a_4xx_with_the_reason(
    resources: Resources, params: dict[str, str], status: int, reason: str
) -> None:
    await _store_history(resources)
    await resources.http.aclose()
    resources.http = by_port(resources, {"data_collector": create_collector(resources)})
    async with local(create_maintenance(resources)) as http:
        response = await http.get("/api/dashboard/chart", params=params)
    assert response.status_code == status, response.text
    assert reason in response.text


async def test_actions_are_relayed_with_the_token_and_audited_on_both_sides(resources: Resources) -> None:
    await _store_history(resources)
    await resources.http.aclose()
    engine_app = create_strategy_engine(resources)
    resources.http = by_port(
        resources, {"trade_executor": create_executor(resources), "strategy_engine": engine_app}
    )
    maintenance = create_maintenance(resources)
    audit = AuditStore(resources.engine)
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with local(maintenance) as http:
        missing = await http.post("/api/dashboard/actions/strategy-pause", json={"target": "trend"})
        wrong = await http.post(
            "/api/dashboard/actions/strategy-pause",
            json={"target": "trend"},
            headers={"Authorization": "Bearer no"},
        )
        unknown = await http.post(
            "/api/dashboard/actions/sell-everything", json={"target": "x"}, headers=auth
        )
        bad = await http.post("/api/dashboard/actions/order-cancel", json={"target": "1; DROP"}, headers=auth)
        paused = await http.post(
            "/api/dashboard/actions/strategy-pause", json={"target": "trend"}, headers=auth
        )
        nothing = await http.post(
            "/api/dashboard/actions/position-close", json={"target": "MSFT"}, headers=auth
        )
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert unknown.status_code == 404 and "sell-everything" in unknown.json()["message"]
    assert bad.status_code == 422 and "an order id" in bad.json()["message"]
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    assert (await StrategyConfigStore(resources.engine).get("trend")).enabled is False
    assert nothing.status_code == 404 and "no open position in MSFT" in nothing.text

    refused = [entry for entry in await audit.recent(action="authenticate") if not entry.success]
    assert len(refused) == 2 and {entry.service_name for entry in refused} == {"maintenance_service"}
    relayed = await audit.recent(action="dashboard.strategy-pause")
    assert [
        (entry.success, entry.details["target"], entry.details["upstream_status"]) for entry in relayed
    ] == [(True, "trend", 200)]
    (changed,) = await audit.recent(action="strategy.disable")
    assert (changed.service_name, changed.user_id) == ("strategy_engine", "api_token")
    (close,) = await audit.recent(action="dashboard.position-close")
    assert (close.success, close.details["upstream_status"]) == (False, 404)


async def test_optional_sources_that_do_not_exist_yet_say_not_available(resources: Resources) -> None:
    await resources.http.aclose()
    resources.http = by_port(resources, {"strategy_engine": create_strategy_engine(resources)})
    async with local(create_maintenance(resources)) as http:
        usage = await http.get("/api/dashboard/service/llm-usage")
        models = await http.get("/api/dashboard/service/models")
    assert usage.status_code == 200 and usage.json()["available"] is False
    assert "does not exist" in usage.json()["detail"]
    assert models.status_code == 200 and models.json() == []
