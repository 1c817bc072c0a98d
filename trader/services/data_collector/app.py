"""Data Collector service (port 8001): wires the providers, the store, the cache and the workers."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI

from trader.adapters.alpaca.market_data import AlpacaMarketDataProvider
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.db.stores.market_data import MarketDataStore, WatchlistStore
from trader.adapters.marketdata.adjusted import AdjustmentMetricsCollector
from trader.adapters.marketdata.cache import InProcessLatestBarCache, LatestBarCache, RedisLatestBarCache
from trader.adapters.marketdata.circuit import CircuitBreaker
from trader.adapters.marketdata.credits import CreditLimiter
from trader.adapters.marketdata.router import FailoverRouter, ProviderSlot
from trader.adapters.marketdata.sample import SampleDataProvider
from trader.adapters.twelvedata.provider import TwelveDataProvider
from trader.core.market import Timeframe, normalize_symbol
from trader.core.ports import Clock
from trader.core.sessions import MarketCalendar
from trader.services.common.app_factory import build_service_app
from trader.services.common.health import ComponentCheck
from trader.services.common.metrics import market_data_metrics
from trader.services.common.resources import Resources
from trader.services.data_collector.handlers import DataCollector
from trader.services.data_collector.news_routes import router as news_router
from trader.services.data_collector.routes import router
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
    default_timeframe = Timeframe.DAY1 if replaying else Timeframe.MINUTE1
    base = (
        Timeframe.parse(settings.data_base_timeframe) if settings.data_base_timeframe else default_timeframe
    )
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


def create_app(
    resources: Resources, *, calendar: MarketCalendar | None = None, run_workers: bool = True
) -> FastAPI:
    collector, source = build_collector(resources, calendar)

    async def collect_bars() -> None:
        try:
            if isinstance(source, SampleDataProvider):
                await run_replay(collector, source)
            else:
                await run_live(collector)
        finally:
            await collector.cancel_jobs()

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
            *([ComponentCheck("news", news.collector.health, critical=False)] if news.collector else []),
        ],
        workers=workers,
    )
    app.state.collector = collector
    app.state.news_store, app.state.news_collector = news.store, news.collector
    app.state.universe = build_universe(resources, collector)
    collector.attach_metrics(market_data_metrics(app.state.metrics))
    if isinstance(source, FailoverRouter):
        router_source = source
        # Batches stored without the provider's adjustment (its adjusted call failed), per provider.
        app.state.metrics.registry.register(
            AdjustmentMetricsCollector(lambda: [slot.provider for slot in router_source.slots])
        )
    return app
