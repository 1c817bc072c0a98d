"""Wiring of the news worker: on when NEWS_ENABLED and the Alpaca keys are set."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from trader.adapters.alpaca.news import AlpacaNews
from trader.adapters.db.stores.market_data import WatchlistStore
from trader.adapters.db.stores.news import NewsStore
from trader.services.common.resources import Resources
from trader.services.data_collector.news_worker import NewsCollector

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
