"""Over a replayed week the screener's universe changes and the strategy engine follows it.

Fifteen S&P 500 symbols' real daily bars (the bundled sample); after each close the screener ranks
gaps, relative volume and breakouts into a universe of four, which becomes the watchlist. A
configuration following the watchlist (symbols ["*"], the llm strategy against the model emulator,
so each evaluation is a prompt we can see) is asked about exactly the universe the next day, plus a
symbol that left it while still held, which may only exit. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.llm import LlmEmulator, prompt_context
from tests.emulators.server import EmulatorServer
from tests.integration.llm.models import spec
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.market_data import MarketDataStore, WatchlistStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.strategies import StrategyConfig
from trader.adapters.marketdata.sample import load_sample_bars
from trader.core.events import bar_closed_event
from trader.core.market import Bar, Timeframe
from trader.runtime.bootstrap import open_resources
from trader.services.data_collector.app import create_app as collector_app
from trader.services.strategy_engine.app import create_app as engine_app
from trader.settings import Settings

SYMBOLS = ["XOM", "JPM", "JNJ", "GE", "C", "BAC", "F", "AIG", "GS", "INTC", "CSCO", "WMT", "PFE", "KO", "T"]
WEEK = [date(2010, 5, 3) + timedelta(days=offset) for offset in range(5)]
TOKEN = "universe-test-token-" + "u" * 24
CALENDAR = XNYSCalendar()


def _analyst(text: str) -> str:
    """Buy when flat, sell when long: every evaluation gives a signal we can count."""
    context = prompt_context(text)
    price = Decimal(context["price"])
    long = Decimal(context["position"]["quantity"]) > 0
    return json.dumps(
        {
            "direction": "sell" if long else "buy",
            "confidence": 0.9,
            "stop_price": None if long else float(round(price * Decimal("0.9"), 2)),
            "target_price": None if long else float(round(price * Decimal("1.2"), 2)),
            "horizon_bars": 3,
            "rationale": "test",
        }
    )


@pytest.fixture(scope="module")
def sample() -> dict[str, list[Bar]]:
    return {
        s: [b for b in bars if b.timestamp.date() <= WEEK[-1]]
        for s, bars in load_sample_bars(CALENDAR, SYMBOLS).items()
    }


@pytest.fixture
def emulator() -> Iterator[tuple[LlmEmulator, str]]:
    fake = LlmEmulator(content=_analyst)
    with EmulatorServer(fake.app) as server:
        yield fake, server.base_url


def _asked(fake: LlmEmulator, since: int) -> set[str]:
    texts = [request["body"]["messages"][-1]["content"] for request in fake.requests[since:]]
    return {prompt_context(text)["symbol"] for text in texts}


async def test_the_universe_changes_over_a_week_and_the_engine_follows_it(
    engine: AsyncEngine, tmp_path: Path, emulator: tuple[LlmEmulator, str], sample: dict[str, list[Bar]]
) -> None:
    fake, url = emulator
    first_close = CALENDAR.session_for(WEEK[0]).close_at  # type: ignore[union-attr]
    clock = SimulatedClock(first_close + timedelta(minutes=5), speed=0)
    settings = Settings(
        _env_file=None,
        database_url=engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        strategies_dir=tmp_path / "strategies",
        api_token=TOKEN,
        allow_unauthenticated_loopback=False,
        screener_enabled=True,
        screener_max_symbols=4,
        screener_sources="gap,relative_volume,breakout",
        screener_gap_percent=Decimal(1),
        screener_relative_volume=Decimal("1.5"),
        llm_models=[spec("analyst", "openai", url)],
    )
    await MarketDataStore(engine).upsert_bars([bar for bars in sample.values() for bar in bars])
    async with open_resources(settings, clock=clock) as resources:
        collector = collector_app(resources, run_workers=False)
        strategies = engine_app(resources).state.strategy_engine
        await strategies.configs.create(
            StrategyConfig(
                name="screened",
                strategy_type="llm",
                parameters={"models": "analyst", "news_items": 0, "context_bars": 5},
                symbols=["*"],
                timeframe=Timeframe.DAY1.value,
                enabled=True,
                updated_by="test",
            ),
            clock.now(),
        )
        auth = {"Authorization": f"Bearer {TOKEN}"}
        transport = httpx.ASGITransport(app=collector)
        async with httpx.AsyncClient(transport=transport, base_url="http://collector") as http:
            assert (await http.post("/universe/refresh")).status_code == 401  # a change needs a token
            universes: list[list[str]] = []
            held: str | None = None
            for next_day in [*WEEK[1:], None]:
                refreshed = await http.post("/universe/refresh", headers=auth)
                assert refreshed.status_code == 200, refreshed.text
                answer = refreshed.json()
                screened = [item["symbol"] for item in answer["universe"] if item["reason"] == "screened"]
                universes.append(screened)
                watchlist = set(await WatchlistStore(resources.engine).symbols())
                assert watchlist == {item["symbol"] for item in answer["universe"]}
                if held is None:
                    # Hold one of the first day's symbols: screened out later, it is still managed.
                    held = screened[1]
                    await PositionStore(resources.engine).set_from_broker(
                        held, Decimal(10), Decimal(50), None, clock.now()
                    )
                elif held not in screened:
                    assert {"symbol": held, "reason": "held"}.items() <= next(
                        item for item in answer["universe"] if item["symbol"] == held
                    ).items()
                if next_day is None:
                    break
                close = CALENDAR.session_for(next_day).close_at  # type: ignore[union-attr]
                clock.advance_to(close + timedelta(minutes=1))
                before = len(fake.requests)
                day_bars = [
                    bars[-1]
                    for bars in ([b for b in sample[s] if b.timestamp.date() <= next_day] for s in SYMBOLS)
                ]
                signals = await strategies.on_bars([bar_closed_event(bar, clock.now()) for bar in day_bars])
                # The engine evaluated exactly the watchlist: the universe, and the held symbol.
                assert _asked(fake, before) == watchlist
                by_symbol = {signal.symbol: signal.direction for signal in signals}
                assert by_symbol == {symbol: ("sell" if symbol == held else "buy") for symbol in watchlist}
                clock.advance_to(close + timedelta(minutes=5))
    assert len({tuple(universe) for universe in universes}) == len(WEEK)  # a new universe every day
    assert held is not None and any(held not in universe for universe in universes[1:])
