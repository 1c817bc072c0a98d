"""News from Alpaca's News API through alpaca-py, against the REST and websocket emulators, stored
point in time on SQLite and PostgreSQL, and served by GET /news on the data collector."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.alpaca_news import Article, NewsStreamEmulator
from tests.emulators.server import EmulatorServer
from trader.adapters.alpaca.news import AlpacaNews
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.market_data import WatchlistStore
from trader.adapters.db.stores.news import NewsStore
from trader.runtime.bootstrap import open_resources
from trader.services.data_collector.app import create_app
from trader.services.data_collector.news_worker import NewsCollector
from trader.settings import Settings

NOW = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
KEY, SECRET = "test-alpaca-key", "test-alpaca-secret"


def _article(
    number: int, symbols: tuple[str, ...], created: timedelta, updated: timedelta, headline: str
) -> Article:
    return Article(
        id=number,
        headline=headline,
        created_at=NOW - created,
        updated_at=NOW - updated,
        symbols=symbols,
        summary=f"summary {number}",
    )


@pytest.fixture
def servers() -> Iterator[tuple[AlpacaEmulator, str, NewsStreamEmulator, str]]:
    rest, stream = AlpacaEmulator(now=NOW), NewsStreamEmulator(KEY, SECRET)
    with EmulatorServer(rest.app) as rest_server, EmulatorServer(stream.app) as stream_server:
        stream_url = stream_server.base_url.replace("http://", "ws://") + "/v1beta1/news"
        yield rest, rest_server.base_url, stream, stream_url


async def _until(condition: object, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


async def test_news_is_collected_live_and_caught_up_and_read_point_in_time(
    engine: AsyncEngine, servers: tuple[AlpacaEmulator, str, NewsStreamEmulator, str]
) -> None:
    rest, rest_url, stream, stream_url = servers
    rest.news.add_article(_article(1, ("AAPL",), timedelta(hours=5), timedelta(hours=5), "Apple first take"))
    rest.news.add_article(_article(2, ("MSFT", "AAPL"), timedelta(hours=4), timedelta(hours=4), "Both move"))
    rest.news.add_article(_article(3, ("IBM",), timedelta(hours=3), timedelta(hours=3), "Not watched"))
    # Updated before it was created: rejected with its reason, counted, never stored.
    rest.news.add_article(_article(4, ("AAPL",), timedelta(hours=2), timedelta(hours=6), "Broken times"))
    watchlist = WatchlistStore(engine)
    await watchlist.add(["AAPL", "MSFT"], added_by="test")
    store = NewsStore(engine)
    source = AlpacaNews(KEY, SECRET, url_override=rest_url, stream_url=stream_url, timeout_seconds=5)
    collector = NewsCollector(
        source, store, watchlist, SimulatedClock(NOW, speed=0), 3, catch_up_seconds=3600
    )
    running = asyncio.create_task(collector.run())
    try:
        await _until(lambda: collector.catch_ups == 1 and stream.subscribed == 1)
        assert collector.stored == 2 and source.rejected == {"updated_before_created": 1}
        # Live: a new article and a new version of article 1, an hour after its first version.
        stream.publish(_article(5, ("AAPL",), timedelta(minutes=30), timedelta(minutes=30), "Apple live"))
        stream.publish(_article(1, ("AAPL",), timedelta(hours=5), timedelta(hours=4), "Apple revised take"))
        await _until(lambda: collector.stored == 4)
        # The stream drops; an article published meanwhile reaches the store through the catch-up.
        stream.disconnect_all()
        rest.news.add_article(_article(6, ("MSFT",), timedelta(minutes=10), timedelta(minutes=10), "Missed"))
        assert await collector.catch_up() == 1
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    before_revision = await store.known_at("AAPL", NOW - timedelta(hours=4, minutes=30), limit=10)
    assert [(item.article_id, item.headline) for item in before_revision] == [(1, "Apple first take")]
    later = await store.known_at("AAPL", NOW, limit=10)
    assert [(item.article_id, item.headline) for item in later] == [
        (5, "Apple live"),
        (2, "Both move"),
        (1, "Apple revised take"),
    ]
    assert [item.article_id for item in await store.known_at("AAPL", NOW, limit=2)] == [5, 2]


async def test_get_news_serves_the_store_and_refuses_bad_input(engine: AsyncEngine, tmp_path: Path) -> None:
    store = NewsStore(engine)
    items = AlpacaNews(KEY, SECRET).accept(
        [
            _article(7, ("AAPL",), timedelta(hours=2), timedelta(hours=2), "Seven").as_json(False),
            _article(7, ("AAPL",), timedelta(hours=2), timedelta(hours=1), "Seven, revised").as_json(False),
            _article(8, ("MSFT",), timedelta(hours=1), timedelta(hours=1), "Eight").as_json(False),
        ]
    )
    assert await store.record(items, NOW) == 3
    assert await store.record(items, NOW) == 0
    settings = Settings(
        _env_file=None,
        database_url=engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
    )
    async with open_resources(settings) as resources:
        app = create_app(resources, run_workers=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as http:
            answer = (await http.get("/news", params={"symbol": "aapl"})).json()
            assert [(a["id"], a["headline"]) for a in answer["news"]] == [(7, "Seven, revised")]
            assert len((await http.get("/news")).json()["news"]) == 2
            assert (await http.get("/news", params={"symbol": "not a symbol!"})).status_code == 422
            assert (await http.get("/news", params={"start": "yesterday"})).status_code == 422
            assert (await http.get("/news/status")).json()["enabled"] is False
