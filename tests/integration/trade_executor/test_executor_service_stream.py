"""The trade executor service with BROKER=alpaca: its order-update stream runs as a worker, shows in
/health and /broker/status, and a refused stream is named there with the reason."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.server import EmulatorServer
from tests.integration.trade_executor.test_executor_contract import approval
from tests.integration.trade_executor.venues import MARKET_OPEN_AT
from trader.adapters.clock import SimulatedClock
from trader.runtime.bootstrap import open_resources
from trader.services.trade_executor.app import create_app
from trader.services.trade_executor.handlers import TradeExecutor
from trader.settings import BrokerKind, Settings


@asynccontextmanager
async def executor_service(
    tmp_path: Path, sqlite_url: str, server: EmulatorServer, *, secret: str = "test-alpaca-secret"
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        database_url=sqlite_url,
        broker=BrokerKind.ALPACA,
        alpaca_api_key=SecretStr("test-alpaca-key"),
        alpaca_secret_key=SecretStr(secret),
        alpaca_base_url=server.base_url,
        executor_stream_backoff_first_seconds=0.05,
        executor_stream_backoff_most_seconds=0.2,
        executor_stream_refused_seconds=30,
    )
    async with open_resources(settings, clock=SimulatedClock(MARKET_OPEN_AT, speed=0)) as resources:
        app = create_app(resources)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://executor") as client:
                yield app, client


async def until_answer(
    client: httpx.AsyncClient, path: str, check: Any, seconds: float = 15
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = (await client.get(path)).json()
        if check(body):
            return body
        assert time.monotonic() < deadline, f"{path} never satisfied the check: {body}"
        await asyncio.sleep(0.05)


async def test_the_stream_runs_with_the_service_and_fills_reach_the_books(
    tmp_path: Path, sqlite_url: str, alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    async with executor_service(tmp_path, sqlite_url, alpaca_server) as (app, client):
        health = await until_answer(
            client, "/health", lambda body: body["components"].get("order_updates", {}).get("status") == "up"
        )
        assert health["status"] == "healthy"
        assert "listening" in health["components"]["order_updates"]["detail"]
        status = (await client.get("/broker/status")).json()
        assert status["order_updates"]["state"] == "listening" and status["order_updates"]["connects"] == 1

        executor: TradeExecutor = app.state.executor
        result = await executor.execute_approved(approval())
        assert result.order is not None
        alpaca.fill_pending()
        order = await until_answer(
            client, f"/orders/{result.order.id}", lambda body: body["status"] == "filled"
        )
        assert len(order["fills"]) == 1
        status = (await client.get("/broker/status")).json()
        assert status["order_updates"]["last_update"]["event"] == "fill"
        assert status["order_updates"]["last_update"]["client_order_id"] == result.order.client_order_id


async def test_a_refused_stream_is_named_in_health_with_the_reason(
    tmp_path: Path, sqlite_url: str, alpaca: AlpacaEmulator, alpaca_server: EmulatorServer
) -> None:
    async with executor_service(tmp_path, sqlite_url, alpaca_server, secret="wrong") as (_app, client):
        health = await until_answer(
            client, "/health", lambda body: "refused" in body["components"]["order_updates"].get("detail", "")
        )
        stream = health["components"]["order_updates"]
        assert stream["status"] == "down" and stream["critical"] is False
        assert "ALPACA_API_KEY" in stream["detail"]
        assert health["status"] == "degraded"
        status = (await client.get("/broker/status")).json()
        assert status["order_updates"]["state"] == "refused"
    assert alpaca.stream.handshakes == 1  # refused once, and not tried again within the test
