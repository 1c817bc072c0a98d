"""Ranking models end to end below the desk: the lifecycle stores on SQLite and PostgreSQL,
`trader model train --kind ranking` on both bundled real data sets (figures printed whatever they
are, the version registered as shadow or refused with its card), `trader model show`, the
refusals that register nothing, and GET /models/{name} / POST /models/train with kind=ranking."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from tests.integration.strategy_engine.test_training_models import finished_job
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.model_lifecycle import (
    ModelEvent,
    ModelEventStore,
    ModelPeriod,
    ModelPeriodStore,
)
from trader.adapters.db.stores.models import ModelRegistryStore, ModelVersion
from trader.cli import app as cli_app
from trader.core.ports import Notification
from trader.ml.ranking_retraining import record_step
from trader.runtime.bootstrap import open_resources
from trader.services.strategy_engine.app import create_app
from trader.settings import Settings

AT = datetime(2024, 3, 8, 21, tzinfo=UTC)
TOKEN = "ranking-test-token-" + "r" * 20
# 24 S&P 500 sample symbols with every one of the data set's 245 sessions.
SP500_COMPLETE = "A,AA,ABC,ABT,ADI,ADM,AEE,AEP,AES,AET,AFL,AGN,AIG,AIV,AIZ,AKS,ALL,AMD,AMP,AMT,AN,ANF,APA,APC"


def _version(number: int, status: str = "candidate") -> ModelVersion:
    return ModelVersion(
        name="ranked",
        version=number,
        status=status,
        training_start=AT - timedelta(days=300),
        training_end=AT,
        features=["momentum_5"],
        metrics={"deflated_sharpe": float("nan")},
        artifact_path=f"/models/ranked/v{number}.joblib",
        artifact_sha256="0" * 64,
        horizon=5,
        kind="cross_sectional",
        card={"figures": {"pbo": float("inf"), "paths": [0.1, float("nan")]}},
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
async def test_the_lifecycle_stores_keep_statuses_events_and_periods(engine: AsyncEngine) -> None:
    registry = ModelRegistryStore(engine)
    for number in (1, 2, 3):
        await registry.register(_version(number), AT)
    stored = await registry.get("ranked", 1)
    assert stored.horizon == 5 and stored.kind == "cross_sectional"
    assert stored.card == {"figures": {"pbo": None, "paths": [0.1, None]}}  # JSON has no NaN or inf
    await registry.promote("ranked", 1, AT)
    await registry.promote("ranked", 2, AT + timedelta(days=1))
    await registry.set_status("ranked", 3, "shadow")
    assert [v.version for v in await registry.with_status("shadow")] == [3]
    await registry.set_status("ranked", 2, "rolled_back")
    previous = await registry.previous_champion("ranked", 2)
    assert previous is not None and previous.version == 1
    with pytest.raises(ValueError, match="only through promote"):
        await registry.set_status("ranked", 3, "active")
    events = ModelEventStore(engine)
    await events.record(ModelEvent("ranked", 3, "gate_passed", AT, "passed", {"dsr": 0.97}))
    await events.record(ModelEvent("ranked", 3, "promoted", AT + timedelta(hours=1), "in band", {}))
    assert [event.event for event in await events.list("ranked", 3)] == ["promoted", "gate_passed"]
    periods = ModelPeriodStore(engine)
    period = ModelPeriod("ranked", 3, "shadow", AT, ["AAA", "BBB"], 40)
    assert await periods.record(period) is True
    assert await periods.record(period) is False  # a redelivered session is recorded once
    pending = await periods.unsettled(["ranked"])
    assert [item.picks for item in pending] == [["AAA", "BBB"]]
    assert pending[0].id is not None
    await periods.settle(pending[0].id, 0.012, 0.004, AT + timedelta(days=8))
    settled = await periods.list("ranked", 3, settled_only=True)
    assert settled[0].excess == pytest.approx(0.008)
    assert await periods.unsettled(["ranked"]) == []


async def test_every_step_is_recorded_and_notified(sqlite_url: str) -> None:
    from trader.adapters.db.engine import create_engine

    engine = create_engine(sqlite_url)
    sent: list[Notification] = []

    async def notify(notification: Notification) -> None:
        sent.append(notification)

    try:
        await record_step(
            engine, "ranked", 4, "rolled_back", "left the band", {"periods": 4}, lambda: AT, notify
        )
        stored = await ModelEventStore(engine).list("ranked")
    finally:
        await engine.dispose()
    assert [(event.event, event.reason, event.figures) for event in stored] == [
        ("rolled_back", "left the band", {"periods": 4})
    ]
    assert sent[0].kind == "model_rolled_back" and sent[0].severity == "warning"
    assert sent[0].message == "left the band"


def _environment(tmp_path: Path, sqlite_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": sqlite_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_DIR": str(tmp_path / "logs"),
        "ENVIRONMENT": "test",
        "SIMULATED_SLIPPAGE_BPS": "5",
        "MODEL_CV_GROUPS": "4",
    }


def _cli(environment: dict[str, str], *arguments: str) -> Result:
    return CliRunner().invoke(cli_app, ["model", *arguments], env=environment)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("data", "symbols"), [("bokeh", "AAPL,IBM,MSFT,GOOG"), ("sp500", SP500_COMPLETE)])
async def test_the_cli_trains_on_a_bundled_real_data_set_and_prints_the_figures(
    tmp_path: Path, sqlite_url: str, data: str, symbols: str
) -> None:
    environment = _environment(tmp_path, sqlite_url)
    trained = await asyncio.to_thread(
        _cli, environment, "train", "--kind", "ranking", "--data", data, "--symbols", symbols, "--trials", "2"
    )
    assert trained.exit_code == 0, trained.output
    print(trained.output)  # the figures of the shipped configuration on real data, whatever they are
    for figure in ("DSR", "PBO", "rank IC", "buy-and-hold", "gate"):
        assert figure in trained.output
    shown = await asyncio.to_thread(_cli, environment, "show", "cross_sectional", "--json")
    card = json.loads(shown.output)
    version = card["version"]
    assert version["status"] in ("shadow", "refused") and version["horizon"] == 5
    assert (version["status"] == "shadow") is version["card"]["gate"]["passed"]
    assert version["card"]["costs"]["slippage_bps"] == "5"
    assert version["card"]["data"]["symbols"] == len(symbols.split(","))
    assert [event["event"] for event in card["events"]][-1] == "trained"
    assert await asyncio.to_thread(Path(version["artifact_path"]).is_file)


async def test_training_that_cannot_be_done_registers_nothing_and_says_why(
    tmp_path: Path, sqlite_url: str
) -> None:
    environment = _environment(tmp_path, sqlite_url)
    # AAPL's sample rows miss four sessions: named, it refuses the whole set.
    gapped = await asyncio.to_thread(
        _cli, environment, "train", "--kind", "ranking", "--data", "sp500", "--symbols", "AAPL,A,AA,ABC"
    )
    assert gapped.exit_code == 2
    assert "AAPL misses 4 of the 245 sessions" in gapped.output and "no model was registered" in gapped.output
    # FB has 196 sessions of bokeh data: less than the warm-up, horizon and CPCV groups need.
    short = await asyncio.to_thread(
        _cli, environment, "train", "--kind", "ranking", "--data", "bokeh", "--symbols", "FB"
    )
    assert short.exit_code == 2 and "at least 3 symbols" in short.output
    listed = await asyncio.to_thread(_cli, environment, "list", "--json")
    assert json.loads(listed.output) == []
    missing = await asyncio.to_thread(_cli, environment, "show", "cross_sectional")
    assert missing.exit_code == 2 and "no model 'cross_sectional'" in missing.output


async def test_the_service_serves_the_card_and_trains_ranking_jobs(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        strategies_dir=tmp_path / "strategies",
        risk_sector_map_path=tmp_path / "sector_map.csv",
        api_token=TOKEN,
        allow_unauthenticated_loopback=False,
        data_watchlist="AAPL,MSFT",
    )
    async with open_resources(settings, clock=SimulatedClock(AT, speed=0)) as resources:
        await ModelRegistryStore(resources.engine).register(_version(1), AT)
        application = create_app(resources)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://strategy") as http:
                card = (await http.get("/models/ranked")).json()
                unknown = await http.get("/models/nothing")
                desk = (await http.get("/models/desk")).json()
                anonymous = await http.post("/models/train", json={"kind": "ranking"})
                bad_kind = await http.post("/models/train", json={"kind": "oracle"}, headers=_auth())
                started = await http.post("/models/train", json={"kind": "ranking"}, headers=_auth())
                job = await finished_job(http, started.json()["url"])
    assert card["version"]["version"] == 1 and card["version"]["kind"] == "cross_sectional"
    assert card["live"] == {
        "shadow": {"periods": 0, "settled": 0, "mean_excess": None},
        "champion": {"periods": 0, "settled": 0, "mean_excess": None},
    }
    assert unknown.status_code == 404 and "no model 'nothing'" in unknown.json()["message"]
    assert desk == {"sessions_done": {}, "errors": {}}
    assert anonymous.status_code == 401 and bad_kind.status_code == 422
    assert started.status_code == 202
    # No stored bars: the job fails with the reason, and no version is added.
    assert job["status"] == "failed" and "no stored bars" in job["error"]


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
