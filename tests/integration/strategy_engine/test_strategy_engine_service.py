"""The strategy engine service: configurations over HTTP, signals from closed bars, backtest jobs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.stores.models import ModelVersion
from trader.adapters.db.stores.signals import SignalStore
from trader.adapters.db.stores.strategies import StrategyConfig, StrategyConfigStore
from trader.backtest.synthetic import gbm_bars
from trader.core import topics
from trader.core.events import BarClosed, SignalEmitted
from trader.core.market import Bar, Timeframe
from trader.core.strategies import BarSeries, SignalDirection, SmaCrossover
from trader.runtime.bootstrap import open_resources
from trader.services.common.resources import Resources
from trader.services.strategy_engine.app import create_app
from trader.services.strategy_engine.handlers import CONSUMER_GROUP, StrategyEngine, consume_bars
from trader.settings import Settings

API_TOKEN = "strategy-engine-test-token-" + "q" * 20
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def _bars(symbol: str, series: BarSeries) -> list[Bar]:
    return [
        Bar(
            symbol=symbol,
            timeframe=Timeframe.DAY1,
            timestamp=series.timestamp_at(i),
            open=Decimal(str(series.open[i])),
            high=Decimal(str(series.high[i])),
            low=Decimal(str(series.low[i])),
            close=Decimal(str(series.close[i])),
            volume=Decimal(str(series.volume[i])),
            source="test",
        )
        for i in range(len(series))
    ]


def _closed(bar: Bar, now: datetime) -> BarClosed:
    return BarClosed(
        occurred_at=now,
        symbol=bar.symbol,
        timeframe=bar.timeframe,
        bar_at=bar.timestamp,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=bar.volume,
        source=bar.source,
    )


def daily_config(name: str, strategy_type: str, parameters: dict[str, object]) -> StrategyConfig:
    """An enabled configuration trading AAPL and MSFT on daily bars."""
    return StrategyConfig(
        name=name,
        strategy_type=strategy_type,
        parameters=parameters,
        symbols=["AAPL", "MSFT"],
        timeframe=Timeframe.DAY1.value,
        enabled=True,
        updated_by="test",
    )


@pytest.fixture
async def resources(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Resources]:
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        api_token=API_TOKEN,
        allow_unauthenticated_loopback=False,
        strategies_dir=tmp_path / "strategies",
        data_watchlist="AAPL,MSFT",
        strategy_default_parameters={"fast_window": 5, "slow_window": 20},
    )
    async with open_resources(settings) as opened:
        yield opened


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://strategy")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def series() -> BarSeries:
    return gbm_bars(300, seed=21, volatility=0.015, bar_seconds=86_400, symbol="AAPL")


async def test_a_closed_bar_becomes_a_stored_then_published_signal(
    resources: Resources, series: BarSeries
) -> None:
    app = create_app(resources)
    engine: StrategyEngine = app.state.strategy_engine
    assert await engine.seed_default() == 1
    assert await engine.seed_default() == 0
    signals = SmaCrossover(5, 20).generate(series)
    signal_bar = max(i for i in range(len(series)) if signals.direction_at(i) is not SignalDirection.FLAT)
    quiet_bar = signal_bar - 1
    assert signals.direction_at(quiet_bar) is SignalDirection.FLAT
    bars = _bars("AAPL", series)
    await MarketDataStore(resources.engine).upsert_bars(bars[: signal_bar + 1])
    bus = resources.bus
    await bus.ensure_group(topics.BARS, CONSUMER_GROUP)
    await bus.ensure_group(topics.SIGNALS, "test")
    now = datetime.now(UTC)
    await bus.publish(topics.BARS, _closed(bars[quiet_bar], now))
    await bus.publish(topics.BARS, _closed(bars[signal_bar], now))
    # Redelivery of the same bar must not make a second signal.
    await bus.publish(topics.BARS, _closed(bars[signal_bar], now))
    worker = asyncio.create_task(consume_bars(engine, "test-consumer", block_ms=50))
    try:
        received: list[SignalEmitted] = []
        for _ in range(100):
            for delivery in await bus.read(topics.SIGNALS, "test", "reader", block_ms=50):
                assert isinstance(delivery.event, SignalEmitted)
                received.append(delivery.event)
            if len(received) >= 2 and await bus.pending_count(topics.BARS, CONSUMER_GROUP) == 0:
                break
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    stored = await SignalStore(resources.engine).recent()
    assert len(stored) == 1
    (record,) = stored
    assert record.direction == signals.direction_at(signal_bar).value
    assert (record.strategy_name, record.symbol, record.bar_timestamp) == (
        "default",
        "AAPL",
        bars[signal_bar].timestamp,
    )
    assert [event.event_id for event in received] == [record.event_id, record.event_id]
    assert received[0].direction == record.direction and received[0].strength == Decimal(1)
    assert (received[0].timeframe, received[0].bar_at, received[0].price) == (
        Timeframe.DAY1,
        record.bar_timestamp,
        record.price,
    )

    async with _client(app) as http:
        listing = (await http.get("/strategies/list")).json()
        (default,) = listing["strategies"]
        assert default["enabled"] and default["symbols"] == ["AAPL", "MSFT"]
        assert default["last_signal"]["event_id"] == record.event_id
        status = (await http.get("/strategies/data-status")).json()
        by_symbol = {row["symbol"]: row for row in status["symbols"]}
        assert by_symbol["AAPL"]["ready"] and by_symbol["AAPL"]["bars_available"] == signal_bar + 1
        assert by_symbol["AAPL"]["lookback_needed"] == 21
        assert not by_symbol["MSFT"]["ready"] and by_symbol["MSFT"]["bars_available"] == 0
        recent = (await http.get("/signals", params={"symbol": "aapl"})).json()
        assert [item["event_id"] for item in recent] == [record.event_id]


async def test_a_batch_signals_in_order_and_skips_a_bar_that_is_not_stored_yet(
    resources: Resources, series: BarSeries, caplog: pytest.LogCaptureFixture
) -> None:
    engine: StrategyEngine = create_app(resources).state.strategy_engine
    await engine.seed_default()
    signals = SmaCrossover(5, 20).generate(series)
    signal_bar = max(i for i in range(len(series)) if signals.direction_at(i) is not SignalDirection.FLAT)
    aapl, msft = _bars("AAPL", series), _bars("MSFT", series)
    store = MarketDataStore(resources.engine)
    # MSFT's closed bar is announced before it is stored: its window would end a bar early.
    await store.upsert_bars(aapl[: signal_bar + 1] + msft[:signal_bar])
    bus = resources.bus
    await bus.ensure_group(topics.SIGNALS, "test")
    now = datetime.now(UTC)

    first = await engine.on_bars([_closed(msft[signal_bar], now), _closed(aapl[signal_bar], now)])
    assert [record.symbol for record in first] == ["AAPL"]
    assert "is not stored yet" in caplog.text

    await store.upsert_bars([msft[signal_bar]])
    second = await engine.on_bars([_closed(msft[signal_bar], now), _closed(aapl[signal_bar], now)])
    assert [record.symbol for record in second] == ["MSFT", "AAPL"]
    assert second[1] == first[0]  # AAPL's bar again: its stored signal, republished
    published = [delivery.event for delivery in await bus.read(topics.SIGNALS, "test", "reader", block_ms=50)]
    assert [(event.symbol, event.event_id) for event in published if isinstance(event, SignalEmitted)] == [
        ("AAPL", first[0].event_id),
        ("MSFT", second[0].event_id),
        ("AAPL", first[0].event_id),
    ]


async def test_a_configuration_without_its_model_skips_every_bar_after_one_registry_read(
    resources: Resources, series: BarSeries, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine: StrategyEngine = create_app(resources).state.strategy_engine
    await engine.seed_default()
    now = datetime.now(UTC)
    await engine.configs.create(daily_config("ml", "ml_classifier", {"model_name": "unregistered"}), now)
    signals = SmaCrossover(5, 20).generate(series)
    signal_bar = max(i for i in range(len(series)) if signals.direction_at(i) is not SignalDirection.FLAT)
    aapl, msft = _bars("AAPL", series), _bars("MSFT", series)
    await MarketDataStore(resources.engine).upsert_bars(aapl[: signal_bar + 1] + msft[: signal_bar + 1])
    reads: list[str] = []
    active = engine.models.active

    async def counted(name: str) -> ModelVersion | None:
        reads.append(name)
        return await active(name)

    monkeypatch.setattr(engine.models, "active", counted)
    caplog.set_level(logging.WARNING, logger="trader.services.strategy_engine")

    emitted = await engine.on_bars([_closed(aapl[signal_bar], now), _closed(msft[signal_bar], now)])
    # The default configuration still signals both bars; the ML one is skipped on each, with a
    # warning per bar, after one read of the registry for the batch.
    assert [(record.strategy_name, record.symbol) for record in emitted] == [
        ("default", "AAPL"),
        ("default", "MSFT"),
    ]
    skipped = [record.getMessage() for record in caplog.records if "skipped" in record.getMessage()]
    assert [message.split(":")[0] for message in skipped] == [
        "strategy ml skipped AAPL",
        "strategy ml skipped MSFT",
    ]
    assert all("has no active version" in message for message in skipped)
    assert reads == ["unregistered"]


async def test_configurations_are_validated_authenticated_and_persisted(resources: Resources) -> None:
    app = create_app(resources)
    body = {
        "name": "rsi-tech",
        "strategy_type": "rsi_reversion",
        "parameters": {"window": 10, "oversold": 25},
        "symbols": ["aapl", "msft"],
        "timeframe": "1d",
    }
    async with _client(app) as http:
        assert (await http.post("/strategies", json=body)).status_code == 401
        unknown = await http.post("/strategies", json={**body, "strategy_type": "astrology"}, headers=AUTH)
        assert unknown.status_code == 404 and "sma_crossover" in unknown.json()["message"]
        bad = await http.post("/strategies", json={**body, "parameters": {"window": "ten"}}, headers=AUTH)
        assert bad.status_code == 422 and "window" in bad.json()["message"]
        rule = await http.post("/strategies", json={**body, "parameters": {"oversold": 80}}, headers=AUTH)
        assert rule.status_code == 422 and "oversold" in rule.json()["message"]
        symbol = await http.post("/strategies", json={**body, "symbols": ["not a symbol"]}, headers=AUTH)
        assert symbol.status_code == 422
        created = await http.post("/strategies", json=body, headers=AUTH)
        assert created.status_code == 201, created.text
        assert created.json()["symbols"] == ["AAPL", "MSFT"] and created.json()["timeframe"] == "1day"
        assert (await http.post("/strategies", json=body, headers=AUTH)).status_code == 409
        enabled = await http.post("/strategies/rsi-tech/enable", headers=AUTH)
        assert enabled.json()["enabled"] is True
        changed = await http.put("/strategies/rsi-tech", json={"parameters": {"window": 21}}, headers=AUTH)
        assert changed.json()["parameters"] == {"window": 21}
        bad_change = await http.put("/strategies/rsi-tech", json={"parameters": {"speed": 1}}, headers=AUTH)
        assert bad_change.status_code == 422 and "speed" in bad_change.json()["message"]
        assert (await http.post("/strategies/nothing/enable", headers=AUTH)).status_code == 404
        await http.post("/strategies/rsi-tech/disable", headers=AUTH)
        listing = (await http.get("/strategies/list")).json()["strategies"]
        assert [(s["name"], s["enabled"], s["parameters"]) for s in listing] == [
            ("rsi-tech", False, {"window": 21})
        ]
        types = {t["type"] for t in (await http.get("/strategies/types")).json()}
        assert {"ensemble", "regime_filter", "multi_timeframe", "ml_classifier"} <= types
        assert (await http.get("/models")).json() == []


async def test_a_backtest_job_runs_on_stored_bars(resources: Resources, series: BarSeries) -> None:
    app = create_app(resources)
    engine: StrategyEngine = app.state.strategy_engine
    store = MarketDataStore(resources.engine)
    await store.upsert_bars(_bars("AAPL", series))
    await store.upsert_bars(_bars("MSFT", gbm_bars(300, seed=3, volatility=0.01, bar_seconds=86_400)))
    request = {"strategy_type": "sma_crossover", "parameters": {"fast_window": 5, "slow_window": 20}}
    async with _client(app) as http:
        refused = await http.post("/backtest", json={**request, "symbols": ["AAPL"]})
        assert refused.status_code == 401
        bad = await http.post(
            "/backtest", json={**request, "parameters": {"fast_window": 0}, "symbols": ["AAPL"]}, headers=AUTH
        )
        assert bad.status_code == 422
        started = await http.post("/backtest", json={**request, "symbols": ["AAPL", "MSFT"]}, headers=AUTH)
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        await engine.wait_for_jobs()
        run = (await http.get(f"/backtests/{run_id}")).json()
        assert run["status"] == "succeeded", run
        assert run["metrics"]["lookahead_passed"] is True and run["metrics"]["bars"] == 300
        assert run["data_hash"] and run["code_version"]
        # The answer shows the costs charged (the system's, by default) and buy-and-hold beside it.
        costs = run["metrics"]["costs"]
        assert costs["slippage_bps"] == "5" and costs["regulatory_fees"]["sec_fee_rate"] == "0.0000278"
        held = run["metrics"]["buy_and_hold"]
        assert held["trade_count"] == 2 and held["exposure"] > 0.99
        assert held["final_equity"] != run["metrics"]["final_equity"]
        free = await http.post(
            "/backtest",
            json={**request, "symbols": ["AAPL"], "slippage_bps": "0", "commission_per_share": "0.01"},
            headers=AUTH,
        )
        await engine.wait_for_jobs()
        chosen = (await http.get(f"/backtests/{free.json()['id']}")).json()["metrics"]["costs"]
        assert (chosen["slippage_bps"], chosen["commission"]["per_share"]) == ("0", "0.01")
        missing = await http.post("/backtest", json={**request, "symbols": ["ZZZZ"]}, headers=AUTH)
        await engine.wait_for_jobs()
        failed = (await http.get(f"/backtests/{missing.json()['id']}")).json()
        assert failed["status"] == "failed" and "ZZZZ" in failed["error_message"]
        assert (await http.get("/backtests/no-such-run")).status_code == 404


FRAGILE = """
from dataclasses import dataclass
import numpy as np
from trader.core.strategies import Signals


@dataclass(frozen=True)
class Fragile:
    '''Always long; divides by zero on prices over 1,000 (a bug of its author's).'''

    @property
    def name(self):
        return "fragile"

    @property
    def lookback_bars(self):
        return 2

    def parameters(self):
        return {}

    def generate(self, bars):
        if bars.close[-1] > 1000:
            1 / 0
        return Signals(entries=np.ones(len(bars), bool), exits=np.zeros(len(bars), bool))


STRATEGY = Fragile
"""


async def test_a_strategy_that_raises_on_one_bar_costs_only_its_own_signal(
    resources: Resources, series: BarSeries, caplog: pytest.LogCaptureFixture
) -> None:
    strategies_dir = resources.settings.strategies_dir
    strategies_dir.mkdir(parents=True, exist_ok=True)
    (strategies_dir / "fragile.py").write_text(FRAGILE)
    engine: StrategyEngine = create_app(resources).state.strategy_engine
    await engine.seed_default()
    now = datetime.now(UTC)
    await engine.configs.create(daily_config("fragile", "fragile", {}), now)
    signals = SmaCrossover(5, 20).generate(series)
    signal_bar = max(i for i in range(len(series)) if signals.direction_at(i) is not SignalDirection.FLAT)
    aapl = _bars("AAPL", series)
    # MSFT trades at twenty times AAPL's prices: the same crossovers, over 1,000 a share.
    msft = [
        replace(
            bar, symbol="MSFT", open=bar.open * 20, high=bar.high * 20, low=bar.low * 20, close=bar.close * 20
        )
        for bar in aapl
    ]
    await MarketDataStore(resources.engine).upsert_bars(aapl[: signal_bar + 1] + msft[: signal_bar + 1])

    emitted = await engine.on_bars([_closed(msft[signal_bar], now), _closed(aapl[signal_bar], now)])

    assert [(record.strategy_name, record.symbol) for record in emitted] == [
        ("default", "MSFT"),
        ("default", "AAPL"),
        ("fragile", "AAPL"),
    ]
    failure = next(record for record in caplog.records if "failed on MSFT" in record.getMessage())
    assert failure.getMessage().startswith("strategy fragile failed on MSFT")
    assert failure.exc_info is not None and failure.exc_info[0] is ZeroDivisionError


async def test_health_warns_when_an_enabled_strategy_lacks_the_bars_it_needs(
    resources: Resources, series: BarSeries, caplog: pytest.LogCaptureFixture
) -> None:
    store = MarketDataStore(resources.engine)
    await store.upsert_bars(_bars("AAPL", series))
    await store.upsert_bars(_bars("MSFT", series)[:10])  # 10 bars; sma 5/20 needs 21
    app = create_app(resources)
    engine: StrategyEngine = app.state.strategy_engine
    await engine.seed_default()
    async with _client(app) as http:
        health = await http.get("/health")
    # A warning, not an outage: the service answers 200, degraded, and names the starved pair.
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded" and "failing" not in body
    component = body["components"]["strategy_data"]
    assert component["status"] == "down" and component["critical"] is False
    assert "1 of 2 enabled strategy symbols cannot trade yet: default/MSFT" in component["detail"]
    assert "strategy data: 1 of 2 enabled strategy symbols cannot trade yet" in caplog.text

    await store.upsert_bars(_bars("MSFT", series))
    async with _client(create_app(resources)) as http:
        body = (await http.get("/health")).json()
    assert body["status"] == "healthy"
    assert body["components"]["strategy_data"]["detail"] == "2 enabled strategy symbols ready"


async def test_a_configurations_protective_levels_go_on_its_entries_signals(
    resources: Resources, series: BarSeries
) -> None:
    engine: StrategyEngine = create_app(resources).state.strategy_engine
    parameters = {"fast_window": 5, "slow_window": 20, "stop_loss_pct": 0.05, "take_profit_pct": "0.1"}
    await StrategyConfigStore(resources.engine).create(
        daily_config("protected", "sma_crossover", parameters), datetime.now(UTC)
    )
    signals = SmaCrossover(5, 20).generate(series)
    buy = max(i for i in range(len(series)) if signals.direction_at(i) is SignalDirection.BUY)
    sell = max(i for i in range(len(series)) if signals.direction_at(i) is SignalDirection.SELL)
    bars = _bars("AAPL", series)
    await MarketDataStore(resources.engine).upsert_bars(bars[: max(buy, sell) + 1])
    now = datetime.now(UTC)

    entry = await engine.on_bars([_closed(bars[buy], now)])
    exit_ = await engine.on_bars([_closed(bars[sell], now)])

    close = bars[buy].close
    (record,) = [r for r in entry if r.strategy_name == "protected"]
    assert record.direction == "buy"
    assert record.stop_price == (close * Decimal("0.95")).quantize(Decimal("0.01"), rounding="ROUND_CEILING")
    assert record.target_price == (close * Decimal("1.1")).quantize(Decimal("0.01"), rounding="ROUND_FLOOR")
    (closing,) = [r for r in exit_ if r.strategy_name == "protected"]
    assert closing.direction == "sell" and closing.stop_price is None and closing.target_price is None


async def test_a_protective_parameter_out_of_range_is_refused_by_name(resources: Resources) -> None:
    engine: StrategyEngine = create_app(resources).state.strategy_engine
    with pytest.raises(ValueError, match="stop_loss_pct"):
        engine.validate("sma_crossover", {"fast_window": 5, "slow_window": 20, "stop_loss_pct": 1.5})
    engine.validate("sma_crossover", {"fast_window": 5, "slow_window": 20, "take_profit_pct": 0.2})
