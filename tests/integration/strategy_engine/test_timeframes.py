"""A configuration reads bars of its own timeframe: on live minute data a daily strategy evaluates the
daily bar the collector announces on a window aggregated from the stored minutes, the same window the
replay and the backtester build from those rows; data-status counts bars of each configuration's own
timeframe and names every symbol that is not ready and why; a correction is never evaluated."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.stores.signals import SignalStore
from trader.adapters.db.stores.strategies import StrategyConfig
from trader.core import topics
from trader.core.aggregation import aggregate_bars
from trader.core.events import bar_closed_event, bar_corrected_event
from trader.core.market import Bar, Timeframe
from trader.core.strategies import BarSeries, SmaCrossover
from trader.core.strategies.closing import closing_signal
from trader.runtime.bootstrap import open_resources
from trader.services.common.resources import Resources
from trader.services.strategy_engine.app import create_app
from trader.services.strategy_engine.handlers import CONSUMER_GROUP, StrategyEngine, consume_bars
from trader.settings import MarketDataSource, Settings

CALENDAR = XNYSCalendar()
# Minutes of each session with a bar (a thin symbol: most minutes have no trades), and its last one.
MINUTES = (0, 45, 120, 200, 300)
SESSIONS = CALENDAR.sessions_between(date(2024, 5, 20), date(2024, 7, 3))  # ends on an early close


def minute_bars(symbol: str) -> list[Bar]:
    """Prices drifting down for weeks, then a jump on the last day: a fast/slow crossover there."""
    bars = []
    price = Decimal(100)
    for number, session in enumerate(SESSIONS):
        length = int(session.duration.total_seconds() // 60)
        for minute in [m for m in MINUTES if m < length - 1] + [length - 1]:
            at = session.open_at + timedelta(minutes=minute)
            step = Decimal("0.80") if number == len(SESSIONS) - 1 else Decimal("-0.02")
            opened, price = price, price + step
            bars.append(
                Bar(
                    symbol,
                    Timeframe.MINUTE1,
                    at,
                    opened,
                    max(opened, price),
                    min(opened, price),
                    price,
                    Decimal(100),
                    "alpaca",
                )
            )
    return bars


def config(name: str, timeframe: Timeframe, symbols: list[str]) -> StrategyConfig:
    return StrategyConfig(
        name=name,
        strategy_type="sma_crossover",
        parameters={"fast_window": 3, "slow_window": 10},
        symbols=symbols,
        timeframe=timeframe.value,
        enabled=True,
        updated_by="test",
    )


@pytest.fixture
async def resources(tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Resources]:
    settings = Settings(
        _env_file=None,
        database_url=engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        market_data_source=MarketDataSource.TWELVE_DATA,  # a live source: 1min base, live timeframes
        data_live_timeframes="5min,1h,1day",
        strategies_dir=tmp_path / "strategies",
    )
    async with open_resources(settings) as opened:
        yield opened


async def test_a_daily_strategy_on_minute_data_sees_the_daily_bars_replay_would(resources: Resources) -> None:
    engine: StrategyEngine = create_app(resources).state.strategy_engine
    bars = minute_bars("AAPL")
    await MarketDataStore(resources.engine).upsert_bars(bars)
    await engine.configs.seed([config("daily", Timeframe.DAY1, ["AAPL"])], engine.now())
    daily = aggregate_bars(bars, Timeframe.DAY1, CALENDAR)
    last = daily[-1]
    assert last.timestamp == SESSIONS[-1].open_at and last.close == bars[-1].close
    (record,) = await engine.on_bars([bar_closed_event(last, SESSIONS[-1].close_at)])
    strategy = SmaCrossover(3, 10)
    expected = closing_signal(strategy, BarSeries.from_bars(daily[-strategy.lookback_bars :]))
    assert expected is not None and record.direction == expected.direction.value == "buy"
    assert (record.timeframe, record.bar_timestamp, record.price) == ("1day", last.timestamp, last.close)
    # The 1-hour bar of the early close's last hour (cut at 13:00) reads hourly windows the same way.
    hourly = aggregate_bars(bars, Timeframe.HOUR1, CALENDAR)
    await engine.configs.seed([config("hourly", Timeframe.HOUR1, ["AAPL"])], engine.now())
    signals = await engine.on_bars([bar_closed_event(hourly[-1], SESSIONS[-1].close_at)])
    expected_hourly = closing_signal(strategy, BarSeries.from_bars(hourly[-strategy.lookback_bars :]))
    assert [s.direction for s in signals] == ([expected_hourly.direction.value] if expected_hourly else [])


async def test_data_status_counts_each_configurations_own_timeframe_and_names_what_is_missing(
    resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    engine: StrategyEngine = create_app(resources).state.strategy_engine
    bars = minute_bars("AAPL")
    await MarketDataStore(resources.engine).upsert_bars(bars)
    await engine.configs.seed(
        [
            config("daily", Timeframe.DAY1, ["AAPL", "MSFT"]),
            config("minutes", Timeframe.MINUTE1, ["AAPL"]),
            config("half-hours", Timeframe.MINUTE30, ["AAPL"]),
        ],
        engine.now(),
    )
    caplog.set_level(logging.WARNING, logger="trader.services.strategy_engine")
    status = await engine.data_status()
    await engine.data_status()
    rows = {(row["strategy"], row["symbol"]): row for row in status["symbols"]}
    assert rows[("daily", "AAPL")]["bars_available"] == len(SESSIONS) and rows[("daily", "AAPL")]["ready"]
    assert rows[("minutes", "AAPL")]["bars_available"] == len(bars)
    assert (
        rows[("daily", "MSFT")]["reason"]
        == "no 1day bars of MSFT (built from the stored 1min bars): collect data first"
    )
    assert "30min bars are not announced" in rows[("half-hours", "AAPL")]["reason"]
    assert {(item["strategy"], item["symbol"]) for item in status["not_ready_symbols"]} == {
        ("daily", "MSFT"),
        ("half-hours", "AAPL"),
    }
    assert caplog.text.count("strategy half-hours: 30min bars are not announced") == 1


async def test_bucket_counts_match_the_aggregation(resources: Resources) -> None:
    bars = minute_bars("AAPL")
    store = MarketDataStore(resources.engine)
    await store.upsert_bars(bars)
    for timeframe in (
        Timeframe.MINUTE5,
        Timeframe.MINUTE15,
        Timeframe.MINUTE30,
        Timeframe.HOUR1,
        Timeframe.DAY1,
    ):
        counted, latest = (await store.bucket_counts(Timeframe.MINUTE1, timeframe))["AAPL"]
        assert counted == len(aggregate_bars(bars, timeframe, CALENDAR)), timeframe
        assert latest == bars[-1].timestamp


async def test_a_correction_is_noted_never_evaluated(
    resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    engine: StrategyEngine = create_app(resources).state.strategy_engine
    bars = minute_bars("AAPL")
    await MarketDataStore(resources.engine).upsert_bars(bars)
    await engine.configs.seed([config("daily", Timeframe.DAY1, ["AAPL"])], engine.now())
    last = aggregate_bars(bars, Timeframe.DAY1, CALENDAR)[-1]
    bus = resources.bus
    await bus.ensure_group(topics.BARS, CONSUMER_GROUP)
    caplog.set_level(logging.INFO, logger="trader.services.strategy_engine")
    # The day's bar would signal a buy; as a correction it must not.
    await bus.publish(topics.BARS, bar_corrected_event(last, datetime.now(UTC), Decimal(1)))
    worker = asyncio.create_task(consume_bars(engine, "test", block_ms=20))
    try:
        for _ in range(200):
            if (
                await bus.pending_count(topics.BARS, CONSUMER_GROUP) == 0
                and "correction noted" in caplog.text
            ):
                break
            await asyncio.sleep(0.02)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert "bar correction noted, not evaluated: AAPL 1day" in caplog.text
    assert await SignalStore(resources.engine).recent() == []
