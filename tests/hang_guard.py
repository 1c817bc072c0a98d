"""A pytest plugin that keeps a hung test from hanging the run (loaded with `-p tests.hang_guard`).

Why pytest-timeout alone is not enough: it arms one timer for a test's setup, call and teardown,
and cancels it as soon as the test fails (its `pytest_exception_interact` hook, there for
debuggers). A failed test whose teardown then blocks — an event loop that cannot close because a
default-executor thread never returns, as a Redis consumer test once did — hangs for ever, and CI
runs to its own limit. So each phase gets a deadline of its own, watched by a thread:

1. soft: when a teardown passes `hang_guard_teardown_seconds`, the main thread is interrupted
   (SIGUSR2) and the teardown fails with the test's name and where it was stuck; the run goes on.
2. hard: when any phase is still stuck `hang_guard_grace_seconds` later (the interrupt was
   swallowed, or the test's own timeout never fired), every thread's stack is dumped, the test's
   name is printed, and the process exits at once with status 124, naming the test.
3. exit: a run whose process does not end `hang_guard_exit_seconds` after pytest finished (a
   non-daemon thread left behind keeps the interpreter from exiting) is ended the same way.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

import pytest

HUNG_EXIT_STATUS = 124  # what coreutils `timeout` exits with: the run was stopped, not finished
_INTERRUPT = signal.SIGUSR2


@dataclass(frozen=True)
class _Watch:
    nodeid: str
    phase: str
    started: float
    soft_at: float | None
    hard_at: float


class HangGuard:
    def __init__(self, *, teardown_seconds: float, grace_seconds: float, exit_seconds: float) -> None:
        self.teardown_seconds = teardown_seconds
        self.grace_seconds = grace_seconds
        self.exit_seconds = exit_seconds
        self._changed = threading.Condition()
        self._watch: _Watch | None = None
        self._interrupted: _Watch | None = None
        self._exit_status = 0
        self._thread = threading.Thread(target=self._run, name="hang-guard", daemon=True)
        self._report: TextIO | None = None

    def start(self) -> None:
        # The terminal's stderr, kept now: while a test runs, pytest captures file descriptor 2, and
        # a report written there would be lost with the process.
        stderr = sys.__stderr__ or sys.stderr
        self._report = os.fdopen(os.dup(stderr.fileno()), "w", buffering=1)
        signal.signal(_INTERRUPT, self._on_interrupt)
        self._thread.start()

    def watch(self, nodeid: str, phase: str, *, soft_after: float | None, hard_after: float) -> None:
        now = time.monotonic()
        soft_at = None if soft_after is None else now + soft_after
        with self._changed:
            self._watch = _Watch(nodeid, phase, now, soft_at, now + hard_after)
            self._changed.notify()

    def clear(self) -> None:
        with self._changed:
            self._watch = None
            self._interrupted = None
            self._changed.notify()

    def expect_exit(self, exit_status: int) -> None:
        self._exit_status = exit_status
        self.watch("(the run is over)", "interpreter exit", soft_after=None, hard_after=self.exit_seconds)

    # The watchdog thread

    def _run(self) -> None:
        with self._changed:
            while True:
                watch = self._watch
                if watch is None:
                    self._changed.wait()
                    continue
                soft_pending = watch.soft_at is not None and self._interrupted is not watch
                deadline = watch.soft_at if soft_pending and watch.soft_at is not None else watch.hard_at
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._changed.wait(remaining)
                    continue
                if soft_pending:
                    self._interrupted = watch
                    signal.pthread_kill(threading.main_thread().ident or 0, _INTERRUPT)
                    continue
                self._give_up(watch)

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        watch = self._interrupted
        if watch is None or watch is not self._watch:
            return  # the phase ended as the signal arrived
        stuck = time.monotonic() - watch.started
        pytest.fail(
            f"hang guard: {watch.nodeid} was stuck in {watch.phase} for {stuck:.0f}s "
            "(the traceback shows where); interrupted so the run goes on"
        )

    def _give_up(self, watch: _Watch) -> None:
        stuck = time.monotonic() - watch.started
        out = self._report or sys.stderr
        if watch.phase == "interpreter exit":
            threads = ", ".join(t.name for t in threading.enumerate() if t is not threading.current_thread())
            message = (
                f"hang guard: the run finished (exit status {self._exit_status}) but the process did not "
                f"exit within {stuck:.0f}s; threads left: {threads}"
            )
            status = self._exit_status or HUNG_EXIT_STATUS
        else:
            message = (
                f"hang guard: {watch.nodeid} is stuck in {watch.phase} after {stuck:.0f}s; "
                f"stopping the run (exit status {HUNG_EXIT_STATUS}). Stacks of every thread:"
            )
            status = HUNG_EXIT_STATUS
        out.write(f"\n{message}\n")
        out.flush()
        faulthandler.dump_traceback(file=out, all_threads=True)
        out.write(f"\nhang guard: HUNG {watch.nodeid} ({watch.phase})\n")
        out.flush()
        os._exit(status)


_GUARD = pytest.StashKey[HangGuard]()
_EXIT_STATUS = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "hang_guard_teardown_seconds", "a teardown running longer is interrupted and fails", default="40"
    )
    parser.addini(
        "hang_guard_grace_seconds",
        "a phase still stuck this long after its limit (a teardown's, or the test's timeout) ends the run",
        default="15",
    )
    parser.addini(
        "hang_guard_exit_seconds", "the process must exit this long after the run finished", default="30"
    )


def pytest_configure(config: pytest.Config) -> None:
    guard = HangGuard(
        teardown_seconds=float(config.getini("hang_guard_teardown_seconds")),
        grace_seconds=float(config.getini("hang_guard_grace_seconds")),
        exit_seconds=float(config.getini("hang_guard_exit_seconds")),
    )
    guard.start()
    config.stash[_GUARD] = guard


def _test_timeout(item: pytest.Item) -> float | None:
    """The item's pytest-timeout limit (marker first, then the ini), None when it has none."""
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0]) or None
    try:
        configured = item.config.getini("timeout")
    except ValueError:  # pytest-timeout is not loaded
        return None
    return float(configured) if configured else None


def _guarded(item: pytest.Item, phase: str) -> Generator[None, Any, None]:
    guard = item.config.stash[_GUARD]
    if phase == "teardown":
        guard.watch(
            item.nodeid,
            phase,
            soft_after=guard.teardown_seconds,
            hard_after=guard.teardown_seconds + guard.grace_seconds,
        )
    else:
        # Setup and call are pytest-timeout's (it fails them, then the run goes on); this is the
        # backstop for when its exception is swallowed and the phase stays stuck.
        limit = _test_timeout(item)
        if limit is None:
            yield
            return
        guard.watch(item.nodeid, phase, soft_after=None, hard_after=limit + guard.grace_seconds)
    try:
        yield
    finally:
        guard.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, None]:
    yield from _guarded(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, None]:
    yield from _guarded(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, None]:
    yield from _guarded(item, "teardown")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.stash.get(_GUARD, None)
    if guard is not None:
        guard.expect_exit(config.stash.get(_EXIT_STATUS, 0))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)
