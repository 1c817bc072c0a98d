"""The whole system, started the way an operator starts it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.databases import empty_database
from tests.e2e.system import RunningSystem, start
from trader.settings import SERVICE_NAMES

LOG_LINE = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: .+"
)

pytestmark = pytest.mark.e2e


def wait_for_status(system: RunningSystem, wanted: str, timeout_seconds: float = 60) -> None:
    """Until the maintenance /status says `wanted` (the strategy engine is degraded while the default
    strategy waits for the replayed history it needs)."""
    deadline = time.monotonic() + timeout_seconds
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{system.url('maintenance_service')}/status", timeout=10).json()
        if status["status"] == wanted:
            return
        time.sleep(0.5)
    raise AssertionError(f"/status never said {wanted} within {timeout_seconds}s: {status}")


def test_trader_up_serves_all_seven_on_the_embedded_default(tmp_path: Path) -> None:
    system = start(tmp_path, [["up"]])
    try:
        system.wait_healthy(timeout_seconds=60)
        wait_for_status(system, "healthy")
        for service in SERVICE_NAMES:
            health = httpx.get(f"{system.url(service)}/health", timeout=5).json()
            assert health["service"] == service
            assert health["status"] == "healthy"
            metrics = httpx.get(f"{system.url(service)}/metrics", timeout=5)
            assert metrics.status_code == 200 and "http_requests_total" in metrics.text
        status = httpx.get(f"{system.url('maintenance_service')}/status", timeout=10).json()
        assert status["status"] == "healthy"
        assert {name: info["status"] for name, info in status["services"].items()} == dict.fromkeys(
            SERVICE_NAMES, "healthy"
        )
        assert status["database"] == {**status["database"], "status": "up", "backend": "sqlite"}
        assert status["redis"]["status"] == "not_configured"
        assert (tmp_path / "data" / "trading_system.db").exists()
    finally:
        codes = system.stop()
    assert codes == [0], system.output()
    for service in SERVICE_NAMES:
        log = tmp_path / "logs" / f"{service}.log"
        lines = log.read_text().splitlines()
        assert lines, f"{log} is empty"
        assert all(LOG_LINE.match(line) for line in lines), lines
        assert any(f"{service} started" in line for line in lines)
        assert any(f"{service} stopped" in line for line in lines)
    maintenance_log = (tmp_path / "logs" / "maintenance_service.log").read_text()
    # The guide's `cut -d' ' -f4-` leaves "logger: message".
    assert any(line.split(" ", 3)[3].startswith("trader.access: ") for line in maintenance_log.splitlines())


def test_a_port_in_use_fails_fast_with_its_name(tmp_path: Path) -> None:
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        system = start(tmp_path, [["up"]], RISK_MANAGER_PORT=str(taken))
        (process,) = system.processes
        assert process.wait(timeout=30) == 1
        trader_log = (tmp_path / "logs").exists()
        assert not trader_log or "risk_manager" not in (tmp_path / "logs" / "risk_manager.log").read_text()
    finally:
        blocker.close()


def test_one_process_per_service_on_postgres_and_redis(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    commands = [["serve", service] for service in SERVICE_NAMES]
    system = start(tmp_path, commands, DATABASE_URL=empty_database(postgres_url), REDIS_URL=redis_url)
    try:
        system.wait_healthy(timeout_seconds=90)
        wait_for_status(system, "healthy")
        status = httpx.get(f"{system.url('maintenance_service')}/status", timeout=10).json()
        assert status["status"] == "healthy", status
        assert status["database"]["backend"] == "postgresql"
        assert status["redis"]["status"] == "up"
        health = httpx.get(f"{system.url('strategy_engine')}/health", timeout=5).json()
        assert set(health["components"]) == {"database", "redis", "strategy_data"}
        # One service gone: the system says so and names it.
        system.processes[SERVICE_NAMES.index("export_service")].terminate()
        system.processes[SERVICE_NAMES.index("export_service")].wait(timeout=20)
        status = httpx.get(f"{system.url('maintenance_service')}/status", timeout=10).json()
        assert status["status"] == "degraded"
        assert status["services"]["export_service"]["status"] == "down"
    finally:
        codes = system.stop()
    assert codes == [0] * len(SERVICE_NAMES), system.output()
