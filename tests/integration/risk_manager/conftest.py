"""A risk manager over the parametrised database and bus, on a stopped simulated clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.risk_manager.books import OPEN_MARKET_AT
from trader.adapters.clock import SimulatedClock
from trader.core.ports import MessageBus
from trader.services.common.resources import Resources
from trader.services.risk_manager.app import build_risk_manager
from trader.services.risk_manager.handlers import RiskManager
from trader.settings import Settings

ADMIN_TOKEN = "risk-admin-token-" + "q" * 30
SECRET = "s" * 40


def risk_settings(tmp_path: Path, database_url: str = "") -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        api_token=ADMIN_TOKEN,
        api_secret_key=SECRET,
        allow_unauthenticated_loopback=False,
        risk_sector_map_path=tmp_path / "config" / "sector_map.csv",
    )


@pytest.fixture
async def resources(engine: AsyncEngine, bus: MessageBus, tmp_path: Path) -> AsyncIterator[Resources]:
    http = httpx.AsyncClient()
    yield Resources(
        settings=risk_settings(tmp_path),
        engine=engine,
        bus=bus,
        clock=SimulatedClock(OPEN_MARKET_AT, speed=0),
        http=http,
    )
    await http.aclose()


@pytest.fixture
async def manager(resources: Resources) -> RiskManager:
    built = build_risk_manager(resources, environment={})
    await built.prepare()
    return built
