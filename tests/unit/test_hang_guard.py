"""Tests that cannot hang: pytest runs deliberately hanging samples in subprocesses (with the hang
guard, `tests/hang_guard.py`, as the suite runs it) and each run ends in time, naming the test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.hang_guard import HUNG_EXIT_STATUS

REPOSITORY = Path(__file__).resolve().parents[2]

# The shape of the hang CI once had: a test fails, and then its event loop cannot close, because a
# default-executor thread never returns (`Runner.close` waits for it, for ever).
LOOP_CANNOT_CLOSE = """
import asyncio
import threading

NEVER = threading.Event()


async def test_fails_and_leaves_a_thread_the_loop_waits_for():
    asyncio.get_running_loop().run_in_executor(None, NEVER.wait)
    await asyncio.sleep(0)
    assert False, "failed first"


def test_after_it():
    pass
"""

# A teardown that swallows every interruption: only ending the run stops it.
STUBBORN_TEARDOWN = """
import threading

import pytest

NEVER = threading.Event()


@pytest.fixture
def stubborn():
    yield
    while True:
        try:
            NEVER.wait()
        except BaseException:
            pass


def test_with_a_stubborn_teardown(stubborn):
    pass


def test_never_reached():
    pass
"""

# A test body that swallows pytest-timeout's own interruption.
STUBBORN_CALL = """
import threading

import pytest

NEVER = threading.Event()


@pytest.mark.timeout(2)
def test_swallows_its_timeout():
    while True:
        try:
            NEVER.wait()
        except BaseException:
            pass
"""

# Small limits, so the proof takes seconds; the suite's own are checked below.
LIMITS = {"hang_guard_teardown_seconds": "2", "hang_guard_grace_seconds": "3", "hang_guard_exit_seconds": "3"}
SAMPLE_SETTINGS = {"asyncio_mode": "auto", "asyncio_default_fixture_loop_scope": "function", "timeout": "20"}
# Time for a loaded machine to start the interpreter and pytest, beside the guard's few seconds.
BUDGET_SECONDS = 60


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str
    seconds: float


def run_samples(tmp_path: Path, samples: dict[str, str]) -> dict[str, Run]:
    """pytest on each sample in its own process, all at once; each must end within the budget."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),
        # Only the plugins the samples need: a faster start, and nothing else in the way.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    options = [f"{name}={value}" for name, value in {**LIMITS, **SAMPLE_SETTINGS}.items()]
    started, processes = time.monotonic(), {}
    for name, source in samples.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"test_{name}.py").write_text(source)
        (folder / "pytest.ini").write_text("[pytest]\n")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-p", "pytest_asyncio.plugin", "-p", "pytest_timeout", "-p", "tests.hang_guard"]
        for option in options:
            command += ["-o", option]
        processes[name] = subprocess.Popen(
            command, cwd=folder, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    runs = {}
    try:
        for name, process in processes.items():
            remaining = max(1.0, BUDGET_SECONDS - (time.monotonic() - started))
            stdout, stderr = process.communicate(timeout=remaining)
            runs[name] = Run(process.returncode, stdout, stderr, time.monotonic() - started)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return runs


def test_a_hung_test_fails_in_time_with_its_name_and_the_run_ends(tmp_path: Path) -> None:
    runs = run_samples(
        tmp_path,
        {"loop": LOOP_CANNOT_CLOSE, "teardown": STUBBORN_TEARDOWN, "call": STUBBORN_CALL},
    )

    # The event loop that cannot close: its teardown is interrupted after 2s and fails with the
    # test's name and where it was stuck; the next test still runs; the thread left behind would
    # keep the interpreter from exiting, so the process is ended with the run's own status.
    loop = runs["loop"]
    assert loop.status == 1, loop.stdout + loop.stderr
    assert "ERROR at teardown of test_fails_and_leaves_a_thread_the_loop_waits_for" in loop.stdout
    assert (
        "hang guard: test_loop.py::test_fails_and_leaves_a_thread_the_loop_waits_for was stuck in teardown"
        in loop.stdout
    )
    assert "in shutdown_default_executor" in loop.stdout or "run_until_complete" in loop.stdout
    assert "1 failed, 1 passed, 1 error" in loop.stdout
    assert "hang guard: the run finished (exit status 1) but the process did not exit" in loop.stderr

    # A teardown that swallows the interruption: the run stops at once, naming the test, with
    # every thread's stack; the tests after it are not waited for.
    teardown = runs["teardown"]
    assert teardown.status == HUNG_EXIT_STATUS, teardown.stdout + teardown.stderr
    assert "hang guard: HUNG test_teardown.py::test_with_a_stubborn_teardown (teardown)" in teardown.stderr
    assert 'test_teardown.py", line 14 in stubborn' in teardown.stderr  # where it was stuck
    assert "test_never_reached" not in teardown.stdout

    # A test body that swallows its own timeout: ended the same way, its timeout plus the grace on.
    call = runs["call"]
    assert call.status == HUNG_EXIT_STATUS, call.stdout + call.stderr
    assert "hang guard: HUNG test_call.py::test_swallows_its_timeout (call)" in call.stderr
    assert all(run.seconds < BUDGET_SECONDS for run in runs.values())


def test_the_suite_fails_a_stuck_teardown_within_a_minute() -> None:
    configured = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 'pytest_plugins = ["tests.hang_guard"]' in (REPOSITORY / "tests" / "conftest.py").read_text()
    teardown = float(configured["hang_guard_teardown_seconds"])
    grace = float(configured["hang_guard_grace_seconds"])
    assert teardown < 60 and teardown + grace < 60  # interrupted, or at worst the run ended, in time
