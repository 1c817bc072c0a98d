"""Every service answers /health and /metrics; a dead dependency is named with a 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.backends import free_port
from trader.runtime.bootstrap import open_resources
from trader.services.common.resources import Resources
from trader.services.maintenance_service.handlers import classify
from trader.services.registry import app_factory
from trader.settings import SERVICE_NAMES, Settings


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", log_dir=tmp_path / "logs", **overrides)  # type: ignore[arg-type]


@pytest.fixture
async def embedded(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Resources]:
    async with open_resources(settings_for(tmp_path, database_url=sqlite_url)) as resources:
        yield resources


def client_for(service: str, resources: Resources) -> httpx.AsyncClient:
    app = app_factory(service)(resources)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_each_service_is_healthy_on_the_embedded_default(service: str, embedded: Resources) -> None:
    async with client_for(service, embedded) as client:
        response = await client.get("/health")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["service"] == service
        assert body["status"] == "healthy"
        assert body["components"]["database"]["status"] == "up"
        assert body["components"]["bus"]["status"] == "up"
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert (
            f'http_requests_total{{method="GET",route="/health",service="{service}",status="200"}} 1.0'
            in metrics.text
        )
        assert "http_request_duration_seconds_bucket" in metrics.text


async def test_unknown_routes_are_404_with_a_message(embedded: Resources) -> None:
    async with client_for("risk_manager", embedded) as client:
        response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"


async def test_a_dead_redis_is_named_with_a_503(tmp_path: Path, sqlite_url: str) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = settings_for(tmp_path, database_url=sqlite_url, redis_url=dead, health_timeout_seconds=3)
    async with open_resources(settings) as resources, client_for("data_collector", resources) as client:
        response = await client.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy"
        assert body["failing"] == ["redis"]
        assert body["components"]["redis"]["status"] == "down"
        assert body["components"]["database"]["status"] == "up"
        metrics = (await client.get("/metrics")).text
        assert 'trader_component_up{component="redis",service="data_collector"} 0.0' in metrics


async def test_a_dead_database_is_named_with_a_503(tmp_path: Path) -> None:
    dead = f"postgresql://trader@127.0.0.1:{free_port()}/trading_system"
    settings = settings_for(tmp_path, database_url=dead, health_timeout_seconds=5)
    async with open_resources(settings) as resources, client_for("risk_manager", resources) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


async def test_redis_backed_services_are_healthy_with_redis(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    settings = settings_for(tmp_path, database_url=postgres_url, redis_url=redis_url)
    async with open_resources(settings) as resources, client_for("trade_executor", resources) as client:
        response = await client.get("/health")
    assert response.status_code == 200, response.text
    # The executor also shows its reading of the broker's account (not critical: risk refuses alone).
    components = response.json()["components"]
    assert set(components) == {"database", "redis", "broker_account"}
    assert components["broker_account"] == {
        "status": "up",
        "latency_ms": components["broker_account"]["latency_ms"],
        "detail": "no reading of the broker's account yet (one is taken at start)",
        "critical": False,
    }


def _services(down: set[str]) -> dict[str, dict[str, str]]:
    return {name: {"status": "down" if name in down else "healthy"} for name in SERVICE_NAMES}


@pytest.mark.parametrize(
    ("down", "database", "redis", "expected"),
    [
        (set(), "up", "up", "healthy"),
        (set(), "up", "not_configured", "healthy"),
        ({"export_service"}, "up", "up", "degraded"),
        ({"risk_manager"}, "up", "up", "critical"),
        ({"export_service", "scheduler", "data_collector", "strategy_engine"}, "up", "up", "critical"),
        (set(), "down", "up", "critical"),
        (set(), "up", "down", "critical"),
    ],
)
def test_overall_status_classification(down: set[str], database: str, redis: str, expected: str) -> None:
    assert classify(_services(down), {"status": database}, {"status": redis}) == expected
