"""Model training: POST /models/train as a job (auth, 202 + status URL, one at a time), the registered
candidate and the promotion rule, and `trader model train|promote|list` on the same registry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner, Result

from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.stores.models import ModelRegistryStore
from trader.cli import app as cli_app
from trader.core.market import Bar, Timeframe
from trader.ml.artifacts import load_model
from trader.ml.registry import decide_promotion
from trader.ml.retraining import scores
from trader.runtime.bootstrap import open_resources
from trader.services.strategy_engine.app import create_app
from trader.settings import Settings

TOKEN = "training-test-token-" + "t" * 20
AUTH = {"Authorization": f"Bearer {TOKEN}"}
END = datetime(2024, 3, 8, tzinfo=UTC)


def trending_bars(symbol: str, size: int, seed: int, persistence: float) -> list[Bar]:
    """Daily bars whose returns follow an AR(1): persistence 0 is noise, 0.5 is predictable."""
    generator = np.random.default_rng(seed)
    returns = np.zeros(size)
    for index in range(1, size):
        returns[index] = persistence * returns[index - 1] + generator.normal(0, 0.01)
    closes = 100 * np.exp(np.cumsum(returns))
    bars = []
    for index in range(size):
        price = Decimal(str(round(float(closes[index]), 2)))
        bars.append(
            Bar(
                symbol=symbol,
                timeframe=Timeframe.DAY1,
                timestamp=END - timedelta(days=size - index),
                open=price,
                high=price + Decimal("0.5"),
                low=price - Decimal("0.5"),
                close=price,
                volume=Decimal(1000),
                source="test",
            )
        )
    return bars


def _settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        strategies_dir=tmp_path / "strategies",
        api_token=TOKEN,
        allow_unauthenticated_loopback=False,
        data_watchlist="AAPL,MSFT",
    )


@pytest.fixture
async def app(tmp_path: Path, sqlite_url: str) -> AsyncIterator[FastAPI]:
    async with open_resources(
        _settings(tmp_path, sqlite_url), clock=SimulatedClock(END, speed=0)
    ) as resources:
        store = MarketDataStore(resources.engine)
        await store.upsert_bars(trending_bars("AAPL", 700, seed=1, persistence=0.5))
        await store.upsert_bars(trending_bars("MSFT", 700, seed=2, persistence=0.5))
        application = create_app(resources)
        async with application.router.lifespan_context(application):
            yield application


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://strategy")


async def finished_job(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = (await http.get(url)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"training {url} did not finish")


async def test_training_runs_as_a_job_and_registers_a_promoted_candidate(app: FastAPI) -> None:
    async with _client(app) as http:
        assert (await http.post("/models/train", json={})).status_code == 401
        assert (
            await http.post("/models/train", json={"symbols": ["not a symbol"]}, headers=AUTH)
        ).status_code == 422
        started = await http.post("/models/train", json={"horizon": 5, "folds": 3}, headers=AUTH)
        assert started.status_code == 202, started.text
        assert started.headers["location"] == started.json()["url"]
        # One training per model at a time: the second request points at the running one.
        again = await http.post("/models/train", json={}, headers=AUTH)
        assert again.status_code == 409
        assert again.json()["id"] == started.json()["id"]
        job = await finished_job(http, started.json()["url"])
        listed = (await http.get("/models", params={"name": "gradient_boosting"})).json()
    assert job["status"] == "succeeded", job["error"]
    outcome = job["outcome"]
    assert outcome["symbols_used"] == ["AAPL", "MSFT"]
    candidate = outcome["candidate"]
    assert candidate["metrics"]["folds"] == 3
    assert candidate["training_end"] < END.isoformat()
    rule = decide_promotion(scores(candidate["metrics"]), None)
    assert outcome["promoted"] is rule.promote is True, rule.reason
    assert [(item["version"], item["status"]) for item in listed] == [(candidate["version"], "active")]
    # The artifact is the registered file, and the engine serves it as the active model.
    model = await asyncio.to_thread(
        load_model, Path(candidate["artifact_path"]), candidate["artifact_sha256"]
    )
    assert model.version == candidate["version"]
    engine = app.state.strategy_engine
    assert (await engine.active_model("gradient_boosting")).version == candidate["version"]


async def test_a_candidate_that_does_not_beat_the_active_model_stays_a_candidate(app: FastAPI) -> None:
    async with _client(app) as http:
        first = await finished_job(
            http, (await http.post("/models/train", json={}, headers=AUTH)).json()["url"]
        )
        # Only AAPL, and it is noise now: a weaker model is registered but not promoted.
        resources = app.state.resources
        await MarketDataStore(resources.engine).upsert_bars(
            trending_bars("IBM", 700, seed=3, persistence=0.0)
        )
        second = await finished_job(
            http,
            (await http.post("/models/train", json={"symbols": ["IBM"], "horizon": 1}, headers=AUTH)).json()[
                "url"
            ],
        )
    assert first["outcome"]["promoted"], first["outcome"]["promotion_reason"]
    active, weaker = first["outcome"]["candidate"], second["outcome"]["candidate"]
    rule = decide_promotion(scores(weaker["metrics"]), scores(active["metrics"]))
    assert not rule.promote, rule.reason
    assert second["outcome"]["promoted"] is False
    assert second["outcome"]["promotion_reason"] == rule.reason
    statuses = {m.version: m.status for m in await ModelRegistryStore(resources.engine).list()}
    assert statuses == {active["version"]: "active", weaker["version"]: "candidate"}


def _cli(environment: dict[str, str], *arguments: str) -> Result:
    return CliRunner().invoke(cli_app, ["model", *arguments], env=environment)


async def test_the_cli_trains_lists_and_promotes(tmp_path: Path, sqlite_url: str) -> None:
    async with open_resources(
        _settings(tmp_path, sqlite_url), clock=SimulatedClock(END, speed=0)
    ) as resources:
        store = MarketDataStore(resources.engine)
        await store.upsert_bars(trending_bars("AAPL", 700, seed=1, persistence=0.5))
        await store.upsert_bars(trending_bars("IBM", 700, seed=3, persistence=0.0))
    environment = {
        "DATABASE_URL": sqlite_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_DIR": str(tmp_path / "logs"),
        "ENVIRONMENT": "test",
    }
    trained = await asyncio.to_thread(
        _cli, environment, "train", "--symbols", "AAPL", "--horizon", "1", "--json"
    )
    assert trained.exit_code == 0, trained.output
    first = json.loads(trained.output)
    assert first["promoted"] is True and first["candidate"]["status"] == "active"
    weaker = await asyncio.to_thread(
        _cli, environment, "train", "--symbols", "IBM", "--horizon", "1", "--no-promote", "--json"
    )
    assert weaker.exit_code == 0, weaker.output
    second = json.loads(weaker.output)
    assert second["candidate"]["status"] == "candidate"
    version = str(second["candidate"]["version"])
    refused = await asyncio.to_thread(_cli, environment, "promote", version)
    listed = await asyncio.to_thread(_cli, environment, "list", "--json")
    forced = await asyncio.to_thread(_cli, environment, "promote", version, "--force")
    after = await asyncio.to_thread(_cli, environment, "list", "--json")
    rule = decide_promotion(scores(second["candidate"]["metrics"]), scores(first["candidate"]["metrics"]))
    assert not rule.promote
    assert refused.exit_code == 1 and "not promoted" in refused.output
    assert {(m["version"], m["status"]) for m in json.loads(listed.output)} == {
        (1, "active"),
        (2, "candidate"),
    }
    assert forced.exit_code == 0 and "forced" in forced.output
    assert {(m["version"], m["status"]) for m in json.loads(after.output)} == {(1, "retired"), (2, "active")}
