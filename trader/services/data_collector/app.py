"""Data Collector service (port 8001): wires the providers, the store, the cache and the workers."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI

from trader.adapters.alpaca.data_stream import DEFAULT_STREAM_URL, AlpacaBarStream, StreamTimings
from trader.adapters.alpaca.market_data import AlpacaMarketDataProvider
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.db.stores.bar_cursors import BarCursorStore
from trader.adapters.db.stores.market_data import MarketDataStore, WatchlistStore
from trader.adapters.marketdata.adjusted import AdjustmentMetricsCollector
from trader.adapters.marketdata.cache import InProcessLatestBarCache, LatestBarCache, RedisLatestBarCache
from trader.adapters.marketdata.circuit import CircuitBreaker
from trader.adapters.marketdata.credits import CreditLimiter
from trader.adapters.marketdata.router import FailoverRouter, ProviderSlot
from trader.adapters.marketdata.sample import SampleDataProvider
from trader.adapters.twelvedata.provider import TwelveDataProvider
from trader.core.market import normalize_symbol
from trader.core.ports import Clock
from trader.core.sessions import MarketCalendar
from trader.services.common.app_factory import build_service_app
from trader.services.common.health import ComponentCheck
from trader.services.common.metrics import market_data_metrics
from trader.services.common.resources import Resources
from trader.services.common.timeframes import base_timeframe, live_timeframes
from trader.services.data_collector.handlers import DataCollector
from trader.services.data_collector.news_routes import router as news_router
from trader.services.data_collector.publisher import BarPublisher, PublishingRules
from trader.services.data_collector.routes import router
from trader.services.data_collector.streaming import StreamFeed
from trader.services.data_collector.universe_routes import router as universe_router
from trader.services.data_collector.wiring import build_news_collector, build_universe
from trader.services.data_collector.worker import run_live, run_replay
from trader.settings import MarketDataSource, Settings

SERVICE = "data_collector"
log = logging.getLogger("trader.services.data_collector")


class ProviderConfigurationError(ValueError):
    """The chosen market-data source lacks what it needs (a key); the message names the variable."""


def _slot(name: str, settings: Settings, calendar: MarketCalendar, clock: Clock) -> ProviderSlot | None:
    breaker = CircuitBreaker(
        clock,
        failure_threshold=settings.data_circuit_failure_threshold,
        cool_down=timedelta(seconds=settings.data_circuit_cool_down_seconds),
    )
    if name == MarketDataSource.TWELVE_DATA.value:
        if settings.twelve_data_api_key is None:
            return None
        limiter = CreditLimiter(clock, settings.twelve_data_credits_per_minute)
        provider = TwelveDataProvider(
            settings.twelve_data_api_key.get_secret_value(),
            calendar,
            limiter,
            base_url=settings.twelve_data_base_url,
            timeout_seconds=settings.data_provider_timeout_seconds,
        )
        return ProviderSlot(provider, breaker, limiter)
    if name == MarketDataSource.ALPACA.value:
        if settings.alpaca_api_key is None or settings.alpaca_secret_key is None:
            return None
        alpaca = AlpacaMarketDataProvider(
            settings.alpaca_api_key.get_secret_value(),
            settings.alpaca_secret_key.get_secret_value(),
            calendar,
            clock,
            feed=settings.alpaca_data_feed,
            url_override=settings.alpaca_data_url or None,
            timeout_seconds=settings.data_provider_timeout_seconds,
        )
        return ProviderSlot(alpaca, breaker)
    raise ProviderConfigurationError(f"unknown market data provider {name!r}; use twelvedata or alpaca")


def build_provider_router(settings: Settings, calendar: MarketCalendar, clock: Clock) -> FailoverRouter:
    """Primary (MARKET_DATA_SOURCE) then backup (MARKET_DATA_BACKUP), each with its breaker."""
    primary = settings.market_data_source.value
    slot = _slot(primary, settings, calendar, clock)
    if slot is None:
        needed = "TWELVE_DATA_API_KEY" if primary == "twelvedata" else "ALPACA_API_KEY and ALPACA_SECRET_KEY"
        raise ProviderConfigurationError(f"MARKET_DATA_SOURCE={primary} needs {needed}")
    slots = [slot]
    backup = settings.market_data_backup.strip().lower()
    if backup and backup != primary:
        backup_slot = _slot(backup, settings, calendar, clock)
        if backup_slot is None:
            log.warning(
                "backup market data provider %s has no keys configured; running without a backup", backup
            )
        else:
            slots.append(backup_slot)
    return FailoverRouter(slots, clock)


def build_collector(
    resources: Resources, calendar: MarketCalendar | None = None
) -> tuple[DataCollector, SampleDataProvider | FailoverRouter]:
    """The collector and its background source: a SampleDataProvider (replay) or the provider router."""
    settings = resources.settings
    chosen_calendar = calendar or XNYSCalendar()
    replaying = settings.market_data_source is MarketDataSource.REPLAY
    source: SampleDataProvider | FailoverRouter
    if replaying:
        source = SampleDataProvider(chosen_calendar, resources.clock)
    else:
        source = build_provider_router(settings, chosen_calendar, resources.clock)
    base = base_timeframe(settings)
    cache: LatestBarCache = (
        RedisLatestBarCache(resources.redis) if resources.redis is not None else InProcessLatestBarCache()
    )
    watchlist = [normalize_symbol(item) for item in settings.data_watchlist.split(",") if item.strip()]
    collector = DataCollector(
        store=MarketDataStore(resources.engine),
        watchlist=WatchlistStore(resources.engine),
        provider=source,
        calendar=chosen_calendar,
        clock=resources.clock,
        bus=resources.bus,
        cache=cache,
        base_timeframe=base,
        default_watchlist=watchlist,
        backfill_days=settings.data_backfill_days,
        job_threshold=settings.data_collect_job_threshold,
    )
    return collector, source


def build_publisher(resources: Resources, collector: DataCollector) -> BarPublisher:
    """Live sources announce through cursors: every live timeframe, each bar once, fresh bars only."""
    settings = resources.settings
    return BarPublisher(
        store=collector.store,
        cursors=BarCursorStore(resources.engine),
        bus=resources.bus,
        calendar=collector.calendar,
        clock=resources.clock,
        rules=PublishingRules(
            base=collector.base_timeframe,
            higher=live_timeframes(settings),
            freshness=timedelta(seconds=settings.data_freshness_seconds),
            settle=timedelta(seconds=settings.data_bar_settle_seconds),
        ),
    )


def build_stream(settings: Settings, calendar: MarketCalendar, clock: Clock) -> AlpacaBarStream | None:
    """Alpaca's market-data websocket when Alpaca is the source (and streaming is not switched off)."""
    if (
        settings.market_data_source is not MarketDataSource.ALPACA
        or not settings.data_stream_enabled
        or settings.alpaca_api_key is None
        or settings.alpaca_secret_key is None
    ):
        return None
    return AlpacaBarStream(
        settings.alpaca_api_key.get_secret_value(),
        settings.alpaca_secret_key.get_secret_value(),
        calendar,
        clock,
        feed=settings.alpaca_data_feed,
        url=settings.alpaca_data_stream_url or DEFAULT_STREAM_URL,
        timings=StreamTimings(
            reconnect_min_seconds=settings.data_stream_reconnect_min_seconds,
            reconnect_max_seconds=settings.data_stream_reconnect_max_seconds,
            refused_retry_seconds=settings.data_stream_refused_retry_seconds,
        ),
    )


def create_app(
    resources: Resources, *, calendar: MarketCalendar | None = None, run_workers: bool = True
) -> FastAPI:
    collector, source = build_collector(resources, calendar)
    feed: StreamFeed | None = None
    if not isinstance(source, SampleDataProvider):
        collector.publisher = build_publisher(resources, collector)
        stream = build_stream(resources.settings, collector.calendar, resources.clock)
        feed = StreamFeed(collector, stream) if stream is not None else None
    settle = timedelta(seconds=resources.settings.data_bar_settle_seconds)

    async def collect_bars() -> None:
        try:
            if isinstance(source, SampleDataProvider):
                await run_replay(collector, source)
            else:
                if collector.publisher is not None:
                    await collector.publisher.start()
                await run_live(collector, feed, settle=settle)
        finally:
            await collector.cancel_jobs()

    async def bar_stream() -> str:
        if feed is None:
            return "no stream: bars are polled"
        status = feed.stream.status()
        if not status.healthy:
            raise RuntimeError(f"{status.name} ({status.feed}) is {status.state.value}: {status.reason}")
        return f"{status.name} ({status.feed}) streaming {status.subscribed} symbols"

    async def provider_circuits() -> str:
        if isinstance(source, FailoverRouter):
            return ", ".join(f"{slot.name}={slot.breaker.state.value}" for slot in source.slots)
        return "replay"

    news = build_news_collector(resources)
    workers = [collect_bars] if run_workers else []
    if news.collector is not None and run_workers:
        workers.append(news.collector.run)
    app = build_service_app(
        SERVICE,
        resources,
        title="Data Collector",
        routers=[router, news_router, universe_router],
        components=[
            ComponentCheck("market_data_providers", provider_circuits, critical=False),
            # Not critical: while the stream is down, REST polling still brings every bar (late).
            ComponentCheck("market_data_stream", bar_stream, critical=False),
            *([ComponentCheck("news", news.collector.health, critical=False)] if news.collector else []),
        ],
        workers=workers,
    )
    app.state.collector = collector
    app.state.stream_feed = feed
    app.state.news_store, app.state.news_collector = news.store, news.collector
    app.state.universe = build_universe(resources, collector)
    collector.attach_metrics(market_data_metrics(app.state.metrics))
    if collector.publisher is not None:
        collector.publisher.metrics = collector.metrics
    if isinstance(source, FailoverRouter):
        router_source = source
        # Batches stored without the provider's adjustment (its adjusted call failed), per provider.
        app.state.metrics.registry.register(
            AdjustmentMetricsCollector(lambda: [slot.provider for slot in router_source.slots])
        )
    return app
