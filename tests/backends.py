"""Access to the real PostgreSQL and Redis servers for tests.

When CI=true an unreachable server is a failure, never a skip: a green run must mean the
PostgreSQL and Redis paths really ran.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

import pytest

T = TypeVar("T")
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def xdist_worker_index() -> int:
    """pytest-xdist's worker number (gw0 is 0, gw1 is 1, ...); 0 when the run is not distributed."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def _redis_url_for_this_worker(base_url: str) -> str:
    # Tests FLUSHDB their Redis database: each parallel worker gets its own, counting down from the
    # configured one (gw0: 15, gw1: 14 by default; the scale-out test's 13 and 12 stay clear of both).
    scheme, _, database = base_url.rpartition("/")
    return f"{scheme}/{int(database or 0) - xdist_worker_index()}"


REDIS_TEST_URL = _redis_url_for_this_worker(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def unavailable(message: str) -> NoReturn:
    """Something a test needs is missing: a failure in CI, a skip (saying so) elsewhere."""
    if in_ci():
        pytest.fail(f"{message}; CI=true requires it (provide it, do not skip)")
    pytest.skip(f"{message} (set CI=true to make this a failure)")


def require(service: str, host: str, port: int) -> None:
    if not reachable(host, port):
        unavailable(f"{service} is not reachable on {host}:{port}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_isolated(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in a thread (fixtures may be set up inside a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()
