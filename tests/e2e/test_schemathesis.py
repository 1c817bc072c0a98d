"""Every service's OpenAPI, fuzzed by schemathesis against the live embedded system: no 5xx.

The bearer token is sent, so state-changing operations are exercised past authentication too.
The operations that would stop the system under test mid-run (the emergency shutdown, closing
every position) run last, in their own pass. Loopback bypasses the rate limits here, or the
fuzzer would spend its examples on 429s.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.system import RunningSystem, start
from trader.settings import SERVICE_NAMES

pytestmark = pytest.mark.e2e

API_TOKEN = "schemathesis-token-" + "s" * 32
SEED = 20240115
MAX_EXAMPLES = 5
# (service, path) of the operations that halt trading or flatten the book: fuzzed last.
STOPPING_OPERATIONS = (
    ("trade_executor", "/emergency/close-all-positions"),
    ("maintenance_service", "/maintenance/emergency-shutdown"),
)
ACCESS_LINE = re.compile(r'trader\.access: \S+ "(POST|PUT|PATCH|DELETE) (\S+)" (\d{3}) ')
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    running = start(
        tmp_path_factory.mktemp("schemathesis"),
        [["up"]],
        API_TOKEN=API_TOKEN,
        ALLOW_UNAUTHENTICATED_LOOPBACK="false",
        RATE_LIMIT_BYPASS_IPS="127.0.0.1",
    )
    try:
        running.wait_healthy(timeout_seconds=90)
        yield running
    finally:
        running.stop()


def fuzz(system: RunningSystem, service: str, *filters: str) -> tuple[int, str]:
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{system.url(service)}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--header",
        f"Authorization: Bearer {API_TOKEN}",
        "--exclude-path-regex",
        "^/(health|metrics)$",
        *filters,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=170, check=False)
    return completed.returncode, completed.stdout + completed.stderr


def mutations_seen(system: RunningSystem, service: str) -> list[tuple[str, str, int]]:
    log = (system.workdir / "logs" / f"{service}.log").read_text()
    return [(method, path, int(code)) for method, path, code in ACCESS_LINE.findall(log)]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_no_operation_answers_a_server_error(system: RunningSystem, service: str) -> None:
    excluded = [
        argument
        for owner, path in STOPPING_OPERATIONS
        if owner == service
        for argument in ("--exclude-path", path)
    ]
    started = time.monotonic()
    code, output = fuzz(system, service, *excluded)
    elapsed = time.monotonic() - started
    assert code == 0, f"schemathesis found server errors on {service} ({elapsed:.0f}s):\n{output[-6000:]}"
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) > 0, output[-3000:]
    assert "Tested: 0" not in output, output[-3000:]
    # The token worked: state-changing operations got past authentication, not only 401s.
    mutations = mutations_seen(system, service)
    if mutations:
        assert any(status not in (401, 403) for _, _, status in mutations), mutations[:20]


def test_the_stopping_operations_run_last_and_leave_the_services_up(system: RunningSystem) -> None:
    for service, path in STOPPING_OPERATIONS:
        code, output = fuzz(system, service, "--include-path", path)
        assert code == 0, f"schemathesis found server errors on {service} {path}:\n{output[-6000:]}"
        assert "Tested: 1" in output, output[-3000:]
        reached = [status for method, seen, status in mutations_seen(system, service) if seen == path]
        assert any(status < 400 for status in reached), reached
    for service in SERVICE_NAMES:
        assert httpx.get(f"{system.url(service)}/health", timeout=5).status_code == 200, service
    state = httpx.get(f"{system.url('maintenance_service')}/trading-state", timeout=5).json()
    assert "halted" in str(state), state
