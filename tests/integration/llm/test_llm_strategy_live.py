"""The llm strategy in the strategy engine, against the model emulator, on both back ends.

An (emulated) live run with a budget of N calls stops calling at N and falls back as configured;
a model outage never blocks an exit (the llm strategy's own fallback, and the veto advisor with
LLM_FALLBACK=veto); an answer that breaks the schema is refused, recorded and counted, and never
becomes a signal.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.llm import LlmEmulator, trend_answer
from tests.emulators.server import EmulatorServer
from tests.integration.llm.models import spec
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.db.stores.llm_calls import LlmCallStore
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.signals import SignalStore
from trader.adapters.db.stores.strategies import StrategyConfig
from trader.adapters.marketdata.sample import load_sample_bars
from trader.core.events import bar_closed_event
from trader.core.market import Bar, Timeframe
from trader.core.strategies import BarSeries, SignalDirection, SmaCrossover
from trader.runtime.bootstrap import open_resources
from trader.services.common.resources import Resources
from trader.services.strategy_engine.app import create_app
from trader.services.strategy_engine.handlers import StrategyEngine
from trader.settings import Settings

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
# 120 input tokens at 100 USD per million: 0.012 USD a call; a 0.06 USD budget buys five calls.
APPS: dict[int, Any] = {}  # the app of each engine under test, for its HTTP routes
PRICED = {"input_usd_per_million_tokens": Decimal(100), "output_usd_per_million_tokens": Decimal(0)}


@pytest.fixture(scope="module")
def aapl() -> list[Bar]:
    bars = load_sample_bars(XNYSCalendar(), ["AAPL"])["AAPL"]
    return [bar for bar in bars if bar.timestamp.year == 2010][:90]


@pytest.fixture
def emulator() -> Iterator[tuple[LlmEmulator, str]]:
    fake = LlmEmulator(content=trend_answer)
    with EmulatorServer(fake.app) as server:
        yield fake, server.base_url


@pytest.fixture
def database_url(engine: AsyncEngine) -> str:
    """The URL of a migrated, emptied database on each back end (the shared `engine` fixture)."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
async def system(
    database_url: str, tmp_path: Path, emulator: tuple[LlmEmulator, str]
) -> AsyncIterator[tuple[StrategyEngine, Resources]]:
    _, url = emulator
    models = [spec("paid", "openai", url, daily_budget_usd=Decimal("0.06"), **PRICED)]
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        strategies_dir=tmp_path / "strategies",
        llm_models=models,
        llm_enabled=True,
        llm_advisor_url="http://127.0.0.1:9",  # the veto advisor is down for the whole test
        llm_fallback="veto",
        llm_timeout_seconds=0.5,
    )
    async with open_resources(settings) as resources:
        app = create_app(resources)
        APPS[id(app.state.strategy_engine)] = app
        yield app.state.strategy_engine, resources
        APPS.pop(id(app.state.strategy_engine))


def _config(fallback: str, strategy_type: str = "llm", **parameters: Any) -> StrategyConfig:
    if strategy_type == "llm":
        parameters = {"models": "paid", "fallback": fallback, "news_items": 0, **parameters}
    return StrategyConfig(
        name=f"{strategy_type}-{fallback}",
        strategy_type=strategy_type,
        parameters=parameters,
        symbols=["AAPL"],
        timeframe=Timeframe.DAY1.value,
        enabled=True,
        updated_by="test",
    )


async def _feed(engine: StrategyEngine, bars: list[Bar]) -> list[Any]:
    emitted = []
    for bar in bars:
        emitted += await engine.on_bars([bar_closed_event(bar, NOW)])
    return emitted


async def test_a_budget_of_n_calls_stops_calling_at_n_then_falls_back(
    system: tuple[StrategyEngine, Resources], emulator: tuple[LlmEmulator, str], aapl: list[Bar]
) -> None:
    engine, resources = system
    fake, _ = emulator
    await MarketDataStore(resources.engine).upsert_bars(aapl)
    await engine.configs.create(_config("hold"), NOW)
    first = await _feed(engine, aapl[60:80])
    assert fake.answers() == 5  # 5 x 0.012 USD = the 0.06 budget; no later bar is asked
    assert await LlmCallStore(resources.engine).count() == 5
    assert engine.llm is not None and engine.llm.panel.counters[("paid", "over_budget")] == 15
    usage = await _get(engine, "/llm/usage")
    [paid] = usage["models"]
    assert (paid["calls"], paid["answered"], paid["over_budget"], paid["input_tokens"]) == (5, 5, True, 600)
    assert Decimal(paid["cost_usd"]) == Decimal("0.06") and Decimal(paid["budget_left_usd"]) == 0
    assert paid["since_start"]["over_budget"] == 15
    health = await _get(engine, "/health")
    assert health["status"] == "degraded", health
    assert "paid: daily budget 0.06 USD spent" in str(health)
    async with _client(engine) as http:
        scraped = (await http.get("/metrics")).text
    assert 'llm_panel_answers_total{model="paid",outcome="over_budget"} 15.0' in scraped
    assert 'llm_panel_answers_total{model="paid",outcome="answered"} 5.0' in scraped
    # The fallback (hold) gave no signal once the budget was spent; what was asked kept its signals.
    asked = {bar.timestamp for bar in aapl[60:65]}
    assert all(signal.bar_timestamp in asked for signal in first)
    # Redelivered bars build the same prompts and replay the recorded answers: no call, same signals.
    again = await _feed(engine, aapl[60:65])
    assert fake.answers() == 5
    assert [s.event_id for s in again] == [s.event_id for s in first]
    for signal in first:
        assert signal.direction == "buy" and signal.stop_price is not None and signal.target_price is not None
        assert signal.stop_price < signal.price < signal.target_price


def _client(engine: StrategyEngine) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=APPS[id(engine)]), base_url="http://s")


async def _get(engine: StrategyEngine, path: str) -> Any:
    async with _client(engine) as http:
        response = await http.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_outage_never_blocks_an_exit(
    system: tuple[StrategyEngine, Resources], emulator: tuple[LlmEmulator, str], aapl: list[Bar]
) -> None:
    engine, resources = system
    fake, _ = emulator
    fake.status_code = 503
    await MarketDataStore(resources.engine).upsert_bars(aapl)
    await PositionStore(resources.engine).set_from_broker("AAPL", Decimal(10), Decimal(200), None, NOW)
    await engine.configs.create(_config("exit"), NOW)
    emitted = await _feed(engine, aapl[70:71])
    assert [(s.direction, s.reason) for s in emitted] == [("sell", "llm fallback: exit (models: fallback)")]
    recorded = await LlmCallStore(resources.engine).recent(limit=5)
    assert [(row["status"], row["refusal_code"], row["signal_direction"]) for row in recorded] == [
        ("failed", "http_error", "sell")
    ]


async def test_the_down_veto_advisor_blocks_entries_never_exits(
    system: tuple[StrategyEngine, Resources], aapl: list[Bar]
) -> None:
    engine, resources = system
    await MarketDataStore(resources.engine).upsert_bars(aapl)
    await engine.configs.create(_config("rules", "sma_crossover", fast_window=5, slow_window=20), NOW)
    signals = SmaCrossover(5, 20).generate(BarSeries.from_bars(aapl))
    entry = next(i for i in range(25, len(aapl)) if signals.direction_at(i) is SignalDirection.BUY)
    exit_ = next(i for i in range(25, len(aapl)) if signals.direction_at(i) is SignalDirection.SELL)
    emitted = await _feed(engine, [aapl[entry], aapl[exit_]])
    assert [s.direction for s in emitted] == ["sell"]
    stored = {s.bar_timestamp: s for s in await SignalStore(resources.engine).recent()}
    assert stored[aapl[entry].timestamp].direction == "flat"
    assert "vetoed buy by the advisor" in (stored[aapl[entry].timestamp].reason or "")
    assert "advisor" not in (stored[aapl[exit_].timestamp].features or {})


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("I would buy, honestly.", "not_json"),
        (
            json.dumps(
                {
                    "direction": "buy",
                    "confidence": 0.9,
                    "stop_price": 10_000,
                    "target_price": 20_000,
                    "horizon_bars": 5,
                    "rationale": "stop above the price",
                }
            ),
            "stop_not_below_price",
        ),
        ('{"direction": "buy", "confidence": 2}', "missing_field"),
    ],
)
async def test_an_answer_off_the_schema_is_refused_recorded_and_counted(
    system: tuple[StrategyEngine, Resources],
    emulator: tuple[LlmEmulator, str],
    aapl: list[Bar],
    answer: str,
    code: str,
) -> None:
    engine, resources = system
    fake, _ = emulator
    fake.content = answer
    await MarketDataStore(resources.engine).upsert_bars(aapl)
    await engine.configs.create(_config("hold"), NOW)
    assert await _feed(engine, aapl[60:62]) == []
    assert await SignalStore(resources.engine).recent() == []
    recorded = await LlmCallStore(resources.engine).recent(limit=5)
    assert [(row["status"], row["refusal_code"]) for row in recorded] == [("refused", code)] * 2
    [paid] = (await _get(engine, "/llm/usage"))["models"]
    assert (paid["refused"], paid["refusals_by_code"]) == (2, {code: 2})
