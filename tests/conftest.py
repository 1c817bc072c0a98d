"""Shared fixtures: databases on both back ends (migrated by the project's own code), both buses."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.backends import POSTGRES_ADMIN_URL, REDIS_TEST_URL, require, run_isolated
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.bus.redis_streams import RedisStreamsBus
from trader.adapters.db.engine import create_engine
from trader.adapters.db.migrate import upgrade_database
from trader.adapters.db.provision import drop_database, provision_database
from trader.adapters.db.tables import metadata
from trader.core.ports import MessageBus

# A hung test fails in time with its name, and never hangs the run (see the module).
pytest_plugins = ["tests.hang_guard"]

BACKEND_FIXTURES = {"postgres_url": "postgres", "redis_url": "redis"}
_backend_passes = {"postgres": 0, "redis": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for backend in getattr(report, "backends", ()):
            _backend_passes[backend] += 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    fixtures = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("engine") == "postgres":
        fixtures.add("postgres_url")
    if callspec is not None and callspec.params.get("bus") == "redis":
        fixtures.add("redis_url")
    report.backends = sorted({backend for name, backend in BACKEND_FIXTURES.items() if name in fixtures})
    for marker, backend in (("postgres", "postgres"), ("redis", "redis")):
        if item.get_closest_marker(marker):
            report.backends = sorted({*report.backends, backend})


def pytest_sessionfinish(session: pytest.Session) -> None:
    # .ci/run reads this to prove the PostgreSQL and Redis tests really ran and passed. Under
    # pytest-xdist the controller sees every worker's reports (their backends attribute included)
    # and writes the total; a worker's own partial count is not written.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    target = Path(os.environ.get("BACKEND_REPORT", "artifacts/backend_tests.json"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(_backend_passes))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A scratch database provisioned and migrated by the project's own set-up code."""
    require("PostgreSQL", "127.0.0.1", 5432)
    name = f"trading_system_test_{os.getpid()}"

    run_isolated(lambda: provision_database(POSTGRES_ADMIN_URL, database=name, role="trader"))
    url = f"postgresql+asyncpg://trader@127.0.0.1:5432/{name}"
    upgrade_database(url)
    yield url
    run_isolated(lambda: drop_database(POSTGRES_ADMIN_URL, name))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'trading_system.db'}"
    upgrade_database(url)
    return url


async def _truncate_all(engine: AsyncEngine) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The same store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    if request.param == "postgres":
        await _truncate_all(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def redis_url() -> str:
    require("Redis", "127.0.0.1", 6379)
    return REDIS_TEST_URL


@pytest.fixture
def unique_name() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[MessageBus]:
    """The same bus contract runs on the in-process bus and on Redis Streams."""
    if request.param == "memory":
        in_memory = InMemoryBus()
        yield in_memory
        await in_memory.close()
        return
    url = request.getfixturevalue("redis_url")
    client = Redis.from_url(url)
    await client.flushdb()
    redis_bus = RedisStreamsBus(client)
    yield redis_bus
    await client.flushdb()
    await redis_bus.close()
