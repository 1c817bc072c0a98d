"""The data collector on the embedded default: real sample bars replayed against a simulated clock,
served over HTTP (in process, ASGI) from SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.core.events import BarClosed
from trader.core.market import Timeframe
from trader.core.ports import Delivery
from trader.core.topics import BARS
from trader.services.common.resources import Resources
from trader.services.data_collector.app import create_app
from trader.settings import Settings

CALENDAR = XNYSCalendar()
FIRST_REPLAYED = CALENDAR.schedule.next_session(date(2010, 5, 31))  # Tuesday 2010-06-01


async def _wait_for(condition: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(20):
        while not await condition():  # noqa: ASYNC110 - polling the database the worker writes
            await asyncio.sleep(0.05)


class System:
    def __init__(self, app: FastAPI, clock: SimulatedClock, bus: InMemoryBus, store: MarketDataStore) -> None:
        self.app = app
        self.clock = clock
        self.bus = bus
        self.store = store
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector")


@pytest.fixture
async def system(sqlite_url: str) -> AsyncIterator[System]:
    # Stopped just before the 2010-06-01 session opens: everything before it is history.
    clock = SimulatedClock(FIRST_REPLAYED.open_at - timedelta(minutes=1), speed=0)
    engine = create_engine(sqlite_url)
    bus = InMemoryBus()
    settings = Settings(database_url=sqlite_url, data_watchlist="AAPL,XOM")
    async with httpx.AsyncClient() as http:
        resources = Resources(settings=settings, engine=engine, bus=bus, clock=clock, http=http)
        app = create_app(resources, calendar=CALENDAR)
        await bus.ensure_group(BARS, "test")
        store = MarketDataStore(engine)
        async with app.router.lifespan_context(app):
            system = System(app, clock, bus, store)

            async def history_loaded() -> bool:
                latest = await store.latest_at("XOM", Timeframe.DAY1)
                return latest is not None and latest >= CALENDAR.previous_session(date(2010, 6, 1)).open_at

            await _wait_for(history_loaded)
            yield system
            await system.client.aclose()
    await bus.close()
    await engine.dispose()


async def test_history_is_stored_without_events_and_nothing_after_the_clock(system: System) -> None:
    aapl = await system.store.bars("AAPL", timeframe=Timeframe.DAY1)
    assert aapl[0].timestamp.date() == date(2000, 3, 1)
    assert aapl[-1].timestamp < FIRST_REPLAYED.open_at  # no look-ahead into market_data
    assert await system.bus.pending_count(BARS, "test") == 0
    assert not await system.bus.read(BARS, "test", "t", block_ms=10)


async def test_each_bar_is_stored_and_published_as_its_session_closes(system: System) -> None:
    system.clock.advance_to(FIRST_REPLAYED.close_at)

    async def stored() -> bool:
        return bool(await system.store.bars("XOM", start=FIRST_REPLAYED.open_at))

    await _wait_for(stored)
    deliveries: list[Delivery] = []
    for _ in range(20):
        deliveries.extend(await system.bus.read(BARS, "test", "t", block_ms=50))
        if len(deliveries) >= 2:
            break
    events = [delivery.event for delivery in deliveries if isinstance(delivery.event, BarClosed)]
    assert len(events) == len(deliveries)
    assert sorted((event.symbol, event.bar_at) for event in events) == [
        ("AAPL", FIRST_REPLAYED.open_at),
        ("XOM", FIRST_REPLAYED.open_at),
    ]
    xom = await system.store.bars("XOM", start=FIRST_REPLAYED.open_at)
    assert [bar.timestamp for bar in xom] == [FIRST_REPLAYED.open_at]


async def test_reads_are_split_adjusted_by_default_and_raw_on_request(system: System) -> None:
    # AAPL split 2:1 on 2005-02-28: the raw close halves overnight, the adjusted series does not.
    window = {"start": "2005-02-24", "end": "2005-03-02"}
    adjusted = (await system.client.get("/data/AAPL", params=window)).json()
    raw = (await system.client.get("/data/AAPL", params={**window, "adjusted": "false"})).json()
    raw_closes = [Decimal(bar["close"]) for bar in raw["bars"]]
    adjusted_closes = [Decimal(bar["close"]) for bar in adjusted["bars"]]
    factors = [Decimal(bar["adjustment_factor"]) for bar in raw["bars"]]
    assert raw["count"] == adjusted["count"] == 4
    assert raw_closes[1] / raw_closes[2] > Decimal("1.8")  # the split day in raw prices
    assert Decimal("0.9") < adjusted_closes[1] / adjusted_closes[2] < Decimal("1.1")
    for close, factor, adjusted_close in zip(raw_closes, factors, adjusted_closes, strict=True):
        assert abs(close * factor - adjusted_close) <= Decimal("0.00000001")


async def test_csv_on_request(system: System) -> None:
    answer = await system.client.get("/data/XOM", params={"limit": 3, "format": "csv"})
    assert answer.headers["content-type"].startswith("text/csv")
    lines = answer.text.strip().splitlines()
    assert lines[0].startswith("symbol,timeframe,timestamp,open")
    assert len(lines) == 4 and all(line.startswith("XOM,1day,") for line in lines[1:])


async def test_bad_input_is_a_clear_4xx(system: System) -> None:
    unknown = await system.client.get("/data/ZZZZ")
    assert unknown.status_code == 404 and "ZZZZ" in unknown.json()["message"]
    malformed = await system.client.get("/data/AA$PL")
    assert malformed.status_code == 422 and "malformed symbol" in malformed.json()["message"]
    bad_date = await system.client.get("/data/AAPL", params={"start": "yesterday"})
    assert bad_date.status_code == 422 and "ISO 8601" in bad_date.json()["message"]
    reversed_range = await system.client.get(
        "/data/AAPL", params={"start": "2010-01-05", "end": "2010-01-04"}
    )
    assert reversed_range.status_code == 422
    finer = await system.client.get("/data/AAPL", params={"timeframe": "1h"})
    assert finer.status_code == 422 and "1day" in finer.json()["message"]
    body = await system.client.post("/data/collect", json={"symbols": ["no good!"]})
    assert body.status_code == 422 and "malformed symbol" in body.json()["message"]


async def test_data_status_reports_age_count_and_gaps(system: System) -> None:
    status = (await system.client.get("/data/status")).json()
    series = {item["symbol"]: item for item in status["series"]}
    assert set(series) == {"AAPL", "XOM"}
    xom = series["XOM"]
    stored = await system.store.bars("XOM")
    assert xom["bar_count"] == len(stored)
    assert xom["latest_bar_at"] == stored[-1].timestamp.isoformat()
    assert xom["gaps"]["sessions_checked"] == 5 and xom["gaps"]["missing_bars"] == 0
    assert xom["age_seconds"] > 0


async def test_collect_reingest_is_idempotent_and_counted(system: System) -> None:
    answer = await system.client.post(
        "/data/collect", json={"symbols": ["XOM"], "start": "2010-01-01", "end": "2010-02-01", "force": True}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["fetched"] == 19 and body["duplicate"] == 19
    assert body["stored"] == 0 and body["rejected"] == 0


async def test_watchlist_is_editable(system: System) -> None:
    assert (await system.client.get("/data/watchlist")).json()["symbols"] == ["AAPL", "XOM"]
    added = await system.client.post("/data/watchlist", json={"symbols": ["msft"]})
    assert added.json()["added"] == ["MSFT"]
    removed = await system.client.delete("/data/watchlist/XOM")
    assert removed.json()["symbols"] == ["AAPL", "MSFT"]
    assert (await system.client.delete("/data/watchlist/XOM")).status_code == 404


async def test_a_long_backfill_runs_as_a_job_with_progress(system: System) -> None:
    answer = await system.client.post(
        "/data/collect",
        json={
            "symbols": ["AAPL", "XOM"],
            "start": "2009-01-01",
            "end": "2010-01-01",
            "background": True,
            "force": True,
        },
    )
    assert answer.status_code == 202
    job_url = answer.json()["progress_url"]

    async def finished() -> bool:
        return bool((await system.client.get(job_url)).json()["status"] != "running")

    await _wait_for(finished)
    job = (await system.client.get(job_url)).json()
    assert job["status"] == "succeeded"
    assert job["progress"] == {"symbols_done": 2, "symbols_total": 2, "fraction": 1.0}
    # Both are already stored (history), so forced re-fetches are all duplicates.
    for symbol in ("AAPL", "XOM"):
        stored = await system.store.bars(
            symbol,
            start=CALENDAR.schedule.next_session(date(2008, 12, 31)).open_at,
            end=FIRST_REPLAYED.open_at,
        )
        in_2009 = [bar for bar in stored if bar.timestamp.year == 2009]
        assert (
            job["per_symbol"][symbol]["duplicate"] == job["per_symbol"][symbol]["fetched"] == len(in_2009) > 0
        )
    assert (await system.client.get("/data/collect/jobs/nope")).status_code == 404


async def test_source_status_names_the_replay_and_counts(system: System) -> None:
    sources = (await system.client.get("/data/sources/status")).json()
    assert sources["base_timeframe"] == "1day"
    assert sources["active_provider"] == "replay"
    assert sources["totals"]["stored"] + sources["totals"]["duplicate"] >= sources["totals"]["fetched"] > 0
    api = (await system.client.get("/api/status")).json()
    assert [provider["name"] for provider in api["providers"]] == ["replay"]


async def test_metrics_count_stored_bars_and_expose_every_rejection_reason(system: System) -> None:
    exposition = (await system.client.get("/metrics")).text
    stored = len(await system.store.bars("AAPL")) + len(await system.store.bars("XOM"))
    ingested = [line for line in exposition.splitlines() if line.startswith("bars_ingested_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in ingested) == stored
    assert 'bars_rejected_total{reason="HIGH_BELOW_LOW"} 0.0' in exposition
    assert "# TYPE provider_credits_remaining gauge" in exposition
