"""The collector service built from settings (MARKET_DATA_SOURCE=alpaca, the emulators' URLs) runs the
stream: /health names the stream and, when it fails, why; /data/sources/status shows its state, last
message and what was announced per timeframe. Wrong keys: no tight retry loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.alpaca_data_stream import AlpacaDataStreamEmulator
from tests.emulators.server import EmulatorServer
from tests.integration.data_collector.conftest import CALENDAR, NOW
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.services.common.resources import Resources
from trader.services.data_collector.app import create_app
from trader.settings import Settings


@pytest.fixture(params=["right keys", "wrong keys"])
async def collector(
    request: pytest.FixtureRequest,
    sqlite_url: str,
    alpaca: AlpacaEmulator,
    alpaca_server: EmulatorServer,
    stream_server: EmulatorServer,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        market_data_source="alpaca",
        market_data_backup="",
        alpaca_api_key=alpaca.api_key,
        alpaca_secret_key=alpaca.secret_key if request.param == "right keys" else "wrong",
        alpaca_data_url=alpaca_server.base_url,
        alpaca_data_stream_url=f"ws://127.0.0.1:{stream_server.port}",
        data_stream_refused_retry_seconds=600,
        data_watchlist="AAPL",
    )
    engine = create_engine(sqlite_url)
    bus = InMemoryBus()
    async with httpx.AsyncClient() as http:
        resources = Resources(
            settings=settings, engine=engine, bus=bus, clock=SimulatedClock(NOW, speed=0), http=http
        )
        app = create_app(resources, calendar=CALENDAR)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as client,
        ):
            yield client
    await bus.close()
    await engine.dispose()


async def stream_state(client: httpx.AsyncClient, wanted: str) -> dict[str, Any]:
    for _ in range(500):
        status = (await client.get("/data/sources/status")).json()
        if status["streams"] and status["streams"][0]["state"] == wanted:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError(f"the stream never reached {wanted}")


async def test_health_and_status_name_the_stream_and_why(
    collector: httpx.AsyncClient, request: pytest.FixtureRequest, stream_emulator: AlpacaDataStreamEmulator
) -> None:
    if request.node.callspec.params["collector"] == "right keys":
        status = await stream_state(collector, "streaming")
        (stream,) = status["streams"]
        assert (stream["name"], stream["feed"], stream["symbols_subscribed"]) == ("alpaca_bars", "iex", 1)
        assert stream["last_message_at"] == NOW.isoformat()
        assert set(status["publishing"]) == {"1min", "5min", "15min", "30min", "1h", "1day"}
        health = (await collector.get("/health")).json()
        assert health["components"]["market_data_stream"]["status"] == "up"
        return
    status = await stream_state(collector, "refused")
    assert status["streams"][0]["reason"] == "refused by Alpaca: auth failed (402)"
    health = (await collector.get("/health")).json()
    component = health["components"]["market_data_stream"]
    assert component["status"] == "down" and health["status"] == "degraded"
    assert (
        component["detail"]
        == "RuntimeError: alpaca_bars (iex) is refused: refused by Alpaca: auth failed (402)"
    )
    await asyncio.sleep(0.5)
    assert len(stream_emulator.connections()) == 1  # waits the long retry, no tight loop
