"""Wiring of the news worker (on when NEWS_ENABLED and the Alpaca keys are set) and of the
screener's universe builder (on when SCREENER_ENABLED; Alpaca's lists need the keys too)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from trader.adapters.alpaca.news import AlpacaNews
from trader.adapters.alpaca.screener import AlpacaScreener
from trader.adapters.db.stores.market_data import WatchlistStore
from trader.adapters.db.stores.news import NewsStore
from trader.adapters.db.stores.positions import PositionStore
from trader.core.market import normalize_symbol
from trader.core.screener import ScanSettings
from trader.services.common.resources import Resources
from trader.services.data_collector.handlers import DataCollector
from trader.services.data_collector.news_worker import NewsCollector
from trader.services.data_collector.universe import UniverseBuilder

log = logging.getLogger("trader.services.data_collector.news")


@dataclass(frozen=True, slots=True)
class NewsWiring:
    store: NewsStore
    collector: NewsCollector | None


def build_news_collector(resources: Resources) -> NewsWiring:
    settings = resources.settings
    store = NewsStore(resources.engine)
    if not settings.news_enabled:
        return NewsWiring(store, None)
    if settings.alpaca_api_key is None or settings.alpaca_secret_key is None:
        log.error("NEWS_ENABLED needs ALPACA_API_KEY and ALPACA_SECRET_KEY; no news will be collected")
        return NewsWiring(store, None)
    source = AlpacaNews(
        settings.alpaca_api_key.get_secret_value(),
        settings.alpaca_secret_key.get_secret_value(),
        url_override=settings.alpaca_data_url or None,
        stream_url=settings.alpaca_news_stream_url or None,
        timeout_seconds=settings.data_provider_timeout_seconds,
    )
    collector = NewsCollector(
        source, store, WatchlistStore(resources.engine), resources.clock, settings.news_backfill_days
    )
    return NewsWiring(store, collector)


def build_universe(resources: Resources, collector: DataCollector) -> UniverseBuilder | None:
    settings = resources.settings
    if not settings.screener_enabled:
        return None
    alpaca = None
    if settings.alpaca_api_key is not None and settings.alpaca_secret_key is not None:
        alpaca = AlpacaScreener(
            settings.alpaca_api_key.get_secret_value(),
            settings.alpaca_secret_key.get_secret_value(),
            url_override=settings.alpaca_data_url or None,
            timeout_seconds=settings.data_provider_timeout_seconds,
        )
    return UniverseBuilder(
        collector=collector,
        positions=PositionStore(resources.engine),
        scans=ScanSettings(
            gap_percent=settings.screener_gap_percent,
            relative_volume=settings.screener_relative_volume,
            volume_bars=settings.screener_volume_bars,
            breakout_bars=settings.screener_breakout_bars,
        ),
        sources=tuple(settings.screener_sources),
        cap=settings.screener_max_symbols,
        pinned=tuple(normalize_symbol(symbol) for symbol in settings.screener_pinned),
        alpaca=alpaca,
        alpaca_top=settings.screener_alpaca_top,
    )
