"""The replay's history cut is logged as taken, even when storing the history lets the clock run on.

The accelerated clock moves hours per wall second; sessions that close while the history is being
stored are released live. Tools that line the live run up with a backtest (the parity test) read
the cut from the log, so it must be the moment the history was chosen by, not a later one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import httpx
import pytest

from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.migrate import upgrade_database
from trader.adapters.marketdata.sample import SampleDataProvider
from trader.core.events import BarClosed
from trader.core.market import Bar
from trader.core.topics import BARS
from trader.services.common.resources import Resources
from trader.services.data_collector.app import build_collector
from trader.services.data_collector.handlers import IngestReport
from trader.services.data_collector.worker import run_replay
from trader.settings import Settings

CALENDAR = XNYSCalendar()
FIRST_SESSION = CALENDAR.session_for(date(2010, 6, 1))
HISTORY_LINE = re.compile(r"replay: \d+ sample bars of \d+ symbols up to (\S+) are in market_data")


async def test_the_logged_cut_is_the_one_the_history_was_taken_at(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert FIRST_SESSION is not None
    cut = FIRST_SESSION.open_at - timedelta(minutes=1)
    clock = SimulatedClock(cut, speed=0)
    await asyncio.to_thread(upgrade_database, sqlite_url)
    engine = create_engine(sqlite_url)
    bus = InMemoryBus()
    await bus.ensure_group(BARS, "test")
    settings = Settings(database_url=sqlite_url, data_watchlist="AAPL,XOM")
    async with httpx.AsyncClient() as http:
        resources = Resources(settings=settings, engine=engine, bus=bus, clock=clock, http=http)
        collector, source = build_collector(resources, CALENDAR)
        assert isinstance(source, SampleDataProvider)
        store_released = collector.store_released

        async def slow_history(bars: Sequence[Bar], *, publish: bool) -> IngestReport:
            report = await store_released(bars, publish=publish)
            if not publish:  # storing the history took two sessions of replay time
                clock.advance_by(timedelta(days=2))
            return report

        collector.store_released = slow_history  # type: ignore[method-assign]
        caplog.set_level(logging.INFO, logger="trader.services.data_collector")
        replay = asyncio.create_task(run_replay(collector, source))
        try:
            async with asyncio.timeout(30):
                # The first live group is published after the history line is logged.
                while not (deliveries := await bus.read(BARS, "test", "t", count=10, block_ms=50)):
                    pass
            found = HISTORY_LINE.search(caplog.text)
        finally:
            replay.cancel()
            await asyncio.gather(replay, return_exceptions=True)
    await bus.close()
    await engine.dispose()
    assert found is not None, caplog.text
    assert datetime.fromisoformat(found.group(1)) == cut
    # The session that closed while the history was stored came live, after the logged cut.
    released = [d.event for d in deliveries if isinstance(d.event, BarClosed)]
    assert {event.bar_at for event in released} == {FIRST_SESSION.open_at}
