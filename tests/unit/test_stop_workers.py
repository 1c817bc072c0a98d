"""A service's shutdown waits for its cancelled workers, but not for ever: a worker that does not
stop is named, with where it is stuck, and the shutdown goes on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from trader.services.common import app_factory
from trader.services.common.app_factory import stop_workers


async def test_a_worker_stuck_past_the_limit_is_named_with_its_stack_and_shutdown_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(app_factory, "WORKER_STOP_SECONDS", 0.2)
    release = asyncio.Event()

    async def polite() -> None:
        await asyncio.sleep(3600)

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # swallows the cancellation: the bug this guards against

    tasks = [
        asyncio.create_task(polite(), name="svc:polite"),
        asyncio.create_task(stubborn(), name="svc:stubborn"),
    ]
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(stop_workers(tasks, logging.getLogger("test.stop")), timeout=5)
    assert tasks[0].cancelled()
    assert not tasks[1].done()
    assert "worker svc:stubborn did not stop within 0.2s of cancellation" in caplog.text
    assert "in stubborn" in caplog.text  # where it is stuck
    assert "svc:polite" not in caplog.text
    release.set()
    tasks[1].cancel()
    await asyncio.gather(tasks[1], return_exceptions=True)


async def test_workers_that_stop_are_waited_for_and_a_failure_is_not_left_unretrieved() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    async def stops() -> None:
        await asyncio.sleep(3600)

    tasks = [asyncio.create_task(fails()), asyncio.create_task(stops())]
    await asyncio.sleep(0)
    await stop_workers(tasks, logging.getLogger("test.stop"))
    assert all(task.done() for task in tasks)
    await stop_workers([], logging.getLogger("test.stop"))
