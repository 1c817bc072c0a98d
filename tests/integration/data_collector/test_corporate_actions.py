"""Corporate actions from the live providers: a 2:1 split inside a fetched range, through the official
SDKs (twelvedata's TDClient, alpaca-py) against the emulators, into the data collector service as
`trader` wires it from settings. Stored prices stay raw with the factor beside them, `GET /data/{symbol}`
serves the adjusted series by default and the raw one on request, and a failed adjusted call stores
raw bars with factor 1, flagged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, Protocol

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from tests.emulators.alpaca import AlpacaEmulator, DataBar
from tests.emulators.server import EmulatorServer
from tests.emulators.twelvedata import SeedBar, TwelveDataEmulator
from tests.integration.data_collector.conftest import CALENDAR, NOW
from trader.adapters.alpaca.market_data import AlpacaMarketDataProvider
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.marketdata.adjusted import (
    AdjustmentMetricsCollector,
    AdjustmentMismatchError,
    attach_factors,
)
from trader.adapters.marketdata.credits import CreditLimiter
from trader.adapters.marketdata.router import FailoverRouter
from trader.adapters.twelvedata.provider import TwelveDataProvider
from trader.core.adjustments import AdjustmentKind
from trader.core.market import Bar, Timeframe
from trader.core.ports import FetchedBars, MarketDataProvider
from trader.core.sessions import Session
from trader.core.validation import BarCandidate
from trader.services.common.resources import Resources
from trader.services.data_collector.app import create_app
from trader.services.data_collector.handlers import DataCollector
from trader.settings import Settings

NEW_YORK_MIDNIGHT = timedelta(hours=5)  # New York is UTC-5 in December
FIRST_DAY, SPLIT_DAY, LAST_DAY = date(2023, 12, 4), date(2023, 12, 11), date(2023, 12, 15)
RANGE_START = datetime(2023, 12, 4, tzinfo=UTC) + NEW_YORK_MIDNIGHT
RANGE_END = datetime(2023, 12, 16, tzinfo=UTC) + NEW_YORK_MIDNIGHT
SPLIT_RATIO = 2
SYMBOL = "AAPL"


@dataclass(frozen=True, slots=True)
class DayPrices:
    """One session's raw prices; `economic_close` is the close in post-split shares (what an adjusted
    series must show)."""

    session: Session
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    economic_close: Decimal


def split_days(split_day: date = SPLIT_DAY, ratio: int = SPLIT_RATIO) -> list[DayPrices]:
    """Ten sessions of a share rising 0.5 a day in post-split terms; before `split_day` it traded at
    `ratio` times that price, on 1/`ratio` of the volume."""
    days = []
    for index, session in enumerate(CALENDAR.sessions_between(FIRST_DAY, LAST_DAY)):
        economic = Decimal(50) + Decimal("0.5") * index
        scale = ratio if session.session_date < split_day else 1
        days.append(
            DayPrices(
                session=session,
                open=(economic - Decimal("0.25")) * scale,
                high=(economic + Decimal("0.5")) * scale,
                low=(economic - Decimal("0.75")) * scale,
                close=economic * scale,
                volume=1_000_000 // scale,
                economic_close=economic,
            )
        )
    return days


class Venue(Protocol):
    """One provider's emulator, served, plus what the data collector needs to use it."""

    name: str

    def seed(self, days: list[DayPrices]) -> None: ...
    def seed_minutes(self, closes: dict[datetime, Decimal]) -> None: ...
    def seed_split(self, on_date: date, ratio: int) -> None: ...
    def seed_dividend(self, ex_date: date, amount: Decimal) -> None: ...
    def refuse_adjusted_next(self) -> None: ...
    def settings(self, database_url: str) -> Settings: ...
    def adjustments_sent(self) -> list[str | None]: ...
    def provider(self, clock: SimulatedClock, adjustment: AdjustmentKind) -> MarketDataProvider: ...


class TwelveDataVenue:
    name = "twelvedata"

    def __init__(self, server: EmulatorServer, emulator: TwelveDataEmulator) -> None:
        self.server, self.emulator = server, emulator

    def seed(self, days: list[DayPrices]) -> None:
        rows = [SeedBar(d.session.open_at, d.open, d.high, d.low, d.close, d.volume) for d in days]
        self.emulator.seed_bars(SYMBOL, "1day", rows)

    def seed_minutes(self, closes: dict[datetime, Decimal]) -> None:
        cent = Decimal("0.01")
        rows = [SeedBar(at, close, close + cent, close - cent, close, 100) for at, close in closes.items()]
        self.emulator.seed_bars(SYMBOL, "1min", rows)

    def seed_split(self, on_date: date, ratio: int) -> None:
        self.emulator.seed_split(SYMBOL, on_date, ratio)

    def seed_dividend(self, ex_date: date, amount: Decimal) -> None:
        self.emulator.seed_dividend(SYMBOL, ex_date, amount)

    def refuse_adjusted_next(self) -> None:
        self.emulator.refuse_adjusted_next(http_status=429)

    def settings(self, database_url: str) -> Settings:
        return Settings(
            database_url=database_url,
            market_data_source="twelvedata",
            market_data_backup="",
            twelve_data_api_key=self.emulator.api_key,
            twelve_data_base_url=self.server.base_url,
            data_base_timeframe="1day",
            data_watchlist=SYMBOL,
        )

    def adjustments_sent(self) -> list[str | None]:
        return [
            request.query.get("adjust")
            for request in self.emulator.requests
            if request.path == "/time_series"
        ]

    def provider(self, clock: SimulatedClock, adjustment: AdjustmentKind) -> MarketDataProvider:
        limiter = CreditLimiter(clock, self.emulator.credits_per_minute)
        return TwelveDataProvider(
            self.emulator.api_key, CALENDAR, limiter, base_url=self.server.base_url, adjustment=adjustment
        )


class AlpacaVenue:
    name = "alpaca"

    def __init__(self, server: EmulatorServer, emulator: AlpacaEmulator) -> None:
        self.server, self.emulator = server, emulator

    def seed(self, days: list[DayPrices]) -> None:
        # Alpaca stamps a daily bar at midnight New York.
        rows = [
            DataBar(
                at=datetime.combine(d.session.session_date, datetime.min.time(), UTC) + NEW_YORK_MIDNIGHT,
                open=d.open,
                high=d.high,
                low=d.low,
                close=d.close,
                volume=d.volume,
            )
            for d in days
        ]
        self.emulator.seed_bars(SYMBOL, "1Day", rows)

    def seed_minutes(self, closes: dict[datetime, Decimal]) -> None:
        cent = Decimal("0.01")
        rows = [DataBar(at, close, close + cent, close - cent, close, 100) for at, close in closes.items()]
        self.emulator.seed_bars(SYMBOL, "1Min", rows)

    def seed_split(self, on_date: date, ratio: int) -> None:
        self.emulator.seed_split(SYMBOL, on_date, ratio)

    def seed_dividend(self, ex_date: date, amount: Decimal) -> None:
        self.emulator.seed_dividend(SYMBOL, ex_date, amount)

    def refuse_adjusted_next(self) -> None:
        self.emulator.refuse_adjusted_next(500)

    def settings(self, database_url: str) -> Settings:
        return Settings(
            database_url=database_url,
            market_data_source="alpaca",
            market_data_backup="",
            alpaca_api_key=self.emulator.api_key,
            alpaca_secret_key=self.emulator.secret_key,
            alpaca_data_url=self.server.base_url,
            data_base_timeframe="1day",
            data_watchlist=SYMBOL,
        )

    def adjustments_sent(self) -> list[str | None]:
        return [
            request.query.get("adjustment")
            for request in self.emulator.requests
            if request.path.endswith("/bars")
        ]

    def provider(self, clock: SimulatedClock, adjustment: AdjustmentKind) -> MarketDataProvider:
        return AlpacaMarketDataProvider(
            self.emulator.api_key,
            self.emulator.secret_key,
            CALENDAR,
            clock,
            url_override=self.server.base_url,
            adjustment=adjustment,
        )


@pytest.fixture(params=["twelvedata", "alpaca"])
def venue(request: pytest.FixtureRequest) -> Iterator[Venue]:
    if request.param == "twelvedata":
        twelvedata = TwelveDataEmulator(now=NOW)
        with EmulatorServer(twelvedata.app) as server:
            yield TwelveDataVenue(server, twelvedata)
    else:
        alpaca = AlpacaEmulator(now=NOW)
        with EmulatorServer(alpaca.app) as server:
            yield AlpacaVenue(server, alpaca)


@dataclass
class Collector:
    app: FastAPI
    collector: DataCollector
    store: MarketDataStore
    client: httpx.AsyncClient
    clock: SimulatedClock

    @property
    def router(self) -> FailoverRouter:
        router = self.collector.provider
        assert isinstance(router, FailoverRouter)
        return router

    async def series(self, **params: Any) -> list[dict[str, Any]]:
        answer = await self.client.get(f"/data/{SYMBOL}", params=params)
        assert answer.status_code == 200, answer.text
        bars: list[dict[str, Any]] = answer.json()["bars"]
        return bars


@pytest.fixture
async def service(venue: Venue, sqlite_url: str) -> AsyncIterator[Collector]:
    """The data collector service built from settings that name the venue (no background workers)."""
    engine = create_engine(sqlite_url)
    bus = InMemoryBus()
    clock = SimulatedClock(NOW, speed=0)
    async with httpx.AsyncClient() as http:
        resources = Resources(
            settings=venue.settings(sqlite_url), engine=engine, bus=bus, clock=clock, http=http
        )
        app = create_app(resources, calendar=CALENDAR, run_workers=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as client,
        ):
            yield Collector(app, app.state.collector, MarketDataStore(engine), client, clock)
    await bus.close()
    await engine.dispose()


def closes(rows: list[dict[str, Any]]) -> list[Decimal]:
    return [Decimal(row["close"]) for row in rows]


def factors_of(fetched: FetchedBars) -> list[Decimal]:
    candidates = [candidate for candidate in fetched.candidates if isinstance(candidate, BarCandidate)]
    assert len(candidates) == len(fetched.candidates)
    return [candidate.adjustment_factor for candidate in candidates]


def largest_move(prices: list[Decimal]) -> Decimal:
    return max(abs(later / earlier - 1) for earlier, later in pairwise(prices))


async def test_a_split_inside_the_fetched_range_is_stored_raw_with_factors(
    venue: Venue, service: Collector
) -> None:
    days = split_days()
    venue.seed(days)
    venue.seed_split(SPLIT_DAY, SPLIT_RATIO)

    report = await service.collector.backfill_symbol(SYMBOL, RANGE_START, RANGE_END, force=True)

    # The split day is a valid bar like any other: nothing rejected, all ten stored.
    assert (report.fetched, report.stored, report.rejected) == (10, 10, 0)
    assert venue.adjustments_sent() == (["none", "all"] if venue.name == "twelvedata" else ["raw", "all"])
    stored: list[Bar] = await service.store.bars(SYMBOL, timeframe=Timeframe.DAY1)
    assert [bar.timestamp for bar in stored] == [day.session.open_at for day in days]
    # Raw prices as traded: they halve across the split...
    assert [bar.close for bar in stored] == [day.close for day in days]
    on = next(index for index, day in enumerate(days) if day.session.session_date == SPLIT_DAY)
    before = on - 1
    assert stored[before].close / stored[on].close > Decimal("1.9")
    # ...and the factors step by the split ratio there, and nowhere else.
    factors = [bar.adjustment_factor for bar in stored]
    steps = [later / earlier for earlier, later in pairwise(factors)]
    assert steps[before] == SPLIT_RATIO
    assert all(step == 1 for index, step in enumerate(steps) if index != before)
    assert factors[-1] == 1  # the provider adjusts towards its present: the newest bar is as traded

    adjusted = await service.series()
    assert closes(adjusted) == [day.economic_close for day in days]
    assert largest_move(closes(adjusted)) < Decimal("0.02")
    raw = await service.series(adjusted="false")
    assert closes(raw) == [day.close for day in days]
    assert largest_move(closes(raw)) > Decimal("0.45")
    # Volume follows: the adjusted series counts pre-split volume in post-split shares.
    assert {Decimal(row["volume"]) for row in adjusted} == {Decimal(1_000_000)}

    provider = service.router.slots[0].provider
    if isinstance(provider, TwelveDataProvider) and isinstance(venue, TwelveDataVenue):
        # Two requests, each spent in the limiter (plus the SDK constructor's own call, if it made one).
        assert provider.limiter.usage().used == venue.emulator.credits_used_this_minute
        assert provider.limiter.usage().used >= 2
    status = {entry["name"]: entry for entry in service.router.status()}
    assert status[venue.name]["adjustment"] == {
        "adjusted_batches": 1,
        "unadjusted_batches": 0,
        "unadjusted_bars": 0,
        "last_problem": None,
    }


async def test_a_failed_adjusted_call_stores_raw_bars_with_factor_one_and_flags_it(
    venue: Venue, service: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    days = split_days()
    venue.seed(days)
    venue.seed_split(SPLIT_DAY, SPLIT_RATIO)
    venue.refuse_adjusted_next()
    registry = CollectorRegistry()
    registry.register(AdjustmentMetricsCollector(lambda: [slot.provider for slot in service.router.slots]))

    with caplog.at_level(logging.WARNING, logger="trader.adapters.marketdata.adjusted"):
        report = await service.collector.backfill_symbol(SYMBOL, RANGE_START, RANGE_END, force=True)

    assert report.stored == 10
    stored = await service.store.bars(SYMBOL, timeframe=Timeframe.DAY1)
    assert {bar.adjustment_factor for bar in stored} == {Decimal(1)}
    assert [bar.close for bar in stored] == [day.close for day in days]
    assert any("stored raw with factor 1" in record.getMessage() for record in caplog.records)
    labels = {"provider": venue.name}
    assert registry.get_sample_value("market_data_unadjusted_batches_total", labels) == 1
    assert registry.get_sample_value("market_data_unadjusted_bars_total", labels) == 10
    flagged = {entry["name"]: entry for entry in service.router.status()}[venue.name]["adjustment"]
    assert isinstance(flagged, dict) and "request failed" in str(flagged["last_problem"])
    # The provider call as a whole succeeded: no failover, no open circuit for the raw bars we got.
    assert service.router.active_provider == venue.name

    # The next forced collection gets the adjusted series and corrects the stored factors.
    if isinstance(venue, TwelveDataVenue):
        # The refused call said "credits exhausted": the limiter holds the rest of that minute.
        venue.emulator.advance_minute()
        service.clock.advance_by(timedelta(minutes=1))
    again = await service.collector.backfill_symbol(SYMBOL, RANGE_START, RANGE_END, force=True)
    assert again.updated == 5  # the five pre-split bars
    assert closes(await service.series()) == [day.economic_close for day in days]
    assert registry.get_sample_value("market_data_unadjusted_batches_total", labels) == 1


async def test_dividends_count_with_the_default_adjustment_and_not_with_splits_only(venue: Venue) -> None:
    days = split_days(split_day=date(2000, 1, 1))  # no split: the raw series is the economic one
    ex_day = days[6].session.session_date
    dividend = Decimal("0.82")
    venue.seed(days)
    venue.seed_dividend(ex_day, dividend)
    clock = SimulatedClock(NOW, speed=0)

    everything = await venue.provider(clock, AdjustmentKind.ALL).fetch_bars(
        SYMBOL, Timeframe.DAY1, RANGE_START, RANGE_END
    )
    # The usual backward adjustment: earlier bars times 1 - dividend / the close before the ex-date.
    expected = 1 - dividend / days[5].close
    assert factors_of(everything) == [
        pytest.approx(expected, abs=Decimal("1e-5")) if index < 6 else Decimal(1) for index in range(10)
    ]
    splits_only = await venue.provider(clock, AdjustmentKind.SPLITS).fetch_bars(
        SYMBOL, Timeframe.DAY1, RANGE_START, RANGE_END
    )
    assert set(factors_of(splits_only)) == {Decimal(1)}
    assert venue.adjustments_sent()[-1] == ("splits" if venue.name == "twelvedata" else "split")


async def test_minute_bars_across_a_split_overnight(venue: Venue) -> None:
    """The live base timeframe: the last minutes before the split session and the first ones of it."""
    friday, monday = CALENDAR.sessions_between(date(2023, 12, 8), SPLIT_DAY)
    before = [friday.close_at - timedelta(minutes=5 - index) for index in range(5)]
    after = [monday.open_at + timedelta(minutes=index) for index in range(5)]
    closes = {at: Decimal(200) + index for index, at in enumerate(before)}
    closes |= {at: Decimal(102) + index for index, at in enumerate(after)}
    venue.seed_minutes(closes)
    venue.seed_split(SPLIT_DAY, SPLIT_RATIO)

    fetched = await venue.provider(SimulatedClock(NOW, speed=0), AdjustmentKind.ALL).fetch_bars(
        SYMBOL, Timeframe.MINUTE1, before[0], after[-1] + timedelta(minutes=1)
    )

    assert [candidate.timestamp for candidate in fetched.candidates] == [*before, *after]
    assert factors_of(fetched) == [Decimal("0.5")] * 5 + [Decimal(1)] * 5


def test_an_adjusted_series_missing_a_bar_is_not_paired() -> None:
    days = split_days()

    def candidate(day: DayPrices, close: Decimal) -> BarCandidate:
        return BarCandidate(
            SYMBOL,
            Timeframe.DAY1,
            day.session.open_at,
            day.open,
            day.high,
            day.low,
            close,
            Decimal(1),
            "test",
        )

    raw = [candidate(day, day.close) for day in days]
    adjusted = [candidate(day, day.economic_close) for day in days]
    assert [c.adjustment_factor for c in attach_factors(raw, adjusted)][4:6] == [Decimal("0.5"), Decimal(1)]
    with pytest.raises(AdjustmentMismatchError, match="no bar at"):
        attach_factors(raw, adjusted[:3] + adjusted[4:])
    unusable = [*adjusted[:2], candidate(days[2], Decimal("NaN")), *adjusted[3:]]
    with pytest.raises(AdjustmentMismatchError, match="unusable"):
        attach_factors(raw, unusable)


async def test_a_split_after_the_stored_bars_rescales_them(venue: Venue, service: Collector) -> None:
    # The first five sessions are collected before anyone knows of a split; the split takes effect
    # on the sixth. The next incremental collection overlaps the newest stored bar, sees its factor
    # move, and carries the ratio back so the adjusted series stays continuous.
    days = split_days()
    split_index = 5
    split_day = days[split_index].session.session_date
    days = split_days(split_day=split_day)
    venue.seed(days[:split_index])
    first_end = days[split_index - 1].session.close_at + timedelta(hours=4)
    await service.collector.backfill_symbol(SYMBOL, RANGE_START, first_end, force=True)
    before = await service.store.bars(SYMBOL, timeframe=Timeframe.DAY1)
    assert [bar.adjustment_factor for bar in before] == [Decimal(1)] * split_index

    venue.seed(days)
    venue.seed_split(split_day, SPLIT_RATIO)
    report = await service.collector.backfill_symbol(SYMBOL, RANGE_START, RANGE_END, force=False)

    assert report.inserted == len(days) - split_index
    stored = await service.store.bars(SYMBOL, timeframe=Timeframe.DAY1)
    assert [bar.close for bar in stored] == [day.close for day in days]  # raw prices untouched
    factors = [bar.adjustment_factor for bar in stored]
    assert factors[:split_index] == [Decimal(1) / SPLIT_RATIO] * split_index
    assert factors[split_index:] == [Decimal(1)] * (len(days) - split_index)
    adjusted = await service.series()
    assert closes(adjusted) == [day.economic_close for day in days]
    assert largest_move(closes(adjusted)) < Decimal("0.02")


async def test_the_service_exports_unadjusted_batch_counters(venue: Venue, service: Collector) -> None:
    venue.seed(split_days())
    venue.refuse_adjusted_next()
    await service.collector.backfill_symbol(SYMBOL, RANGE_START, RANGE_END, force=True)
    metrics = (await service.client.get("/metrics")).text
    assert f'market_data_unadjusted_batches_total{{provider="{venue.name}"}} 1.0' in metrics
    assert f'market_data_unadjusted_bars_total{{provider="{venue.name}"}} 10.0' in metrics
