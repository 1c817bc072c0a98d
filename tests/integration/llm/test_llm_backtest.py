"""The llm strategy backtested through the risk manager on the bundled sample bars.

The first run asks the model (the emulator's deterministic analyst) and records every answer; the
second run builds the same prompts, replays the recorded answers, makes no call and places exactly
the same orders (and a replay-only run with the model down does too). A model whose knowledge
cutoff is not before the first replayed day is refused unless the configuration allows it, and
then the report says so. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.llm import LlmEmulator, trend_answer
from tests.emulators.server import EmulatorServer
from tests.integration.llm.models import spec
from trader.backtest.through_risk import result_as_dict
from trader.commands.llm_backtest import BeforeCutoffError, run_llm_through_risk
from trader.core.llm.strategy import LlmStrategySettings
from trader.settings import Settings

FIRST, LAST = date(2010, 1, 4), date(2010, 3, 31)
SYMBOLS = ["AAPL", "MSFT"]


@pytest.fixture
def emulator() -> Iterator[tuple[LlmEmulator, str]]:
    fake = LlmEmulator(content=trend_answer)
    with EmulatorServer(fake.app) as server:
        yield fake, server.base_url


def _settings(engine: AsyncEngine, tmp_path: Path, url: str, cutoff: date) -> Settings:
    return Settings(
        _env_file=None,
        database_url=engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path / "data",
        risk_sector_map_path=tmp_path / "sector_map.csv",
        llm_models=[spec("analyst", "openai", url, knowledge_cutoff=cutoff)],
    )


def _orders(result: Any) -> list[dict[str, Any]]:
    return result_as_dict(result)["orders"]


async def test_a_second_run_replays_every_answer_and_places_the_same_orders(
    engine: AsyncEngine, tmp_path: Path, emulator: tuple[LlmEmulator, str]
) -> None:
    fake, url = emulator
    settings = _settings(engine, tmp_path, url, date(2005, 1, 1))
    llm = LlmStrategySettings(models="analyst", news_items=0)
    first, report = await run_llm_through_risk(settings, llm, SYMBOLS, FIRST, LAST)
    asked = fake.answers()
    assert asked == report.calls_made > 100 and report.answers_replayed == 0
    assert report.before_cutoff == []
    approved = [order for order in _orders(first) if order["decision"] == "approved"]
    assert {order["side"] for order in approved} == {"buy", "sell"}
    second, again = await run_llm_through_risk(settings, llm, SYMBOLS, FIRST, LAST)
    assert fake.answers() == asked  # no model call the second time
    assert (again.calls_made, again.answers_replayed) == (0, asked)
    assert result_as_dict(second) == result_as_dict(first)
    fake.status_code = 503  # the model is down: a replay-only run needs it no more
    offline, replayed = await run_llm_through_risk(settings, llm, SYMBOLS, FIRST, LAST, replay_only=True)
    assert replayed.calls_made == 0 and result_as_dict(offline) == result_as_dict(first)


async def test_bars_before_a_knowledge_cutoff_are_refused_unless_allowed(
    engine: AsyncEngine, tmp_path: Path, emulator: tuple[LlmEmulator, str]
) -> None:
    fake, url = emulator
    settings = _settings(engine, tmp_path, url, date(2023, 10, 1))
    with pytest.raises(BeforeCutoffError, match="analyst's knowledge cutoff 2023-10-01 is not before"):
        await run_llm_through_risk(settings, LlmStrategySettings(news_items=0), SYMBOLS, FIRST, LAST)
    assert fake.answers() == 0
    allowed = LlmStrategySettings(news_items=0, allow_before_cutoff=True)
    short = date(2010, 1, 29)
    _, report = await run_llm_through_risk(settings, allowed, ["AAPL"], FIRST, short)
    assert report.calls_made == fake.answers() > 0
    assert report.allowed_before_cutoff and report.as_dict()["before_cutoff"]
    assert any(line.startswith("WARNING: analyst's knowledge cutoff") for line in report.lines())
