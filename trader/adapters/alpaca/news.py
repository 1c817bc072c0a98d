"""Alpaca's News API through alpaca-py: REST history (NewsClient) and the live news stream
(NewsDataStream). Articles become `NewsItem`s; one that cannot (no headline, an update before its
creation, a naive time) is rejected with its reason and counted, never stored."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical.news import NewsClient
from alpaca.data.live.news import NewsDataStream
from alpaca.data.models.news import News
from alpaca.data.requests import NewsRequest
from pydantic import ValidationError

from trader.adapters.http_timeouts import apply_timeout
from trader.adapters.marketdata.errors import ProviderError, ProviderUnavailableError, transport_error
from trader.core.news import InvalidNewsError, NewsItem

log = logging.getLogger("trader.adapters.alpaca.news")
PROVIDER = "alpaca_news"
PAGE_SIZE = 50
# Symbols per REST request: a long comma-separated list makes an over-long URL.
SYMBOLS_PER_REQUEST = 50


def _aware(moment: Any) -> datetime:
    if hasattr(moment, "to_datetime"):  # the stream's msgpack timestamps
        moment = moment.to_datetime()
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidNewsError(f"a news time without a time zone: {moment!r}", "naive_time")
    return moment.astimezone(UTC)


def news_item(article: News | dict[str, Any]) -> NewsItem:
    """Our record of an article from the SDK (REST model or raw stream dict); InvalidNewsError if unusable."""
    raw = article.model_dump() if isinstance(article, News) else dict(article)
    try:
        return NewsItem(
            article_id=int(raw["id"]),
            headline=str(raw.get("headline") or ""),
            summary=str(raw.get("summary") or ""),
            symbols=tuple(str(symbol) for symbol in raw.get("symbols") or ()),
            source=str(raw.get("source") or "unknown")[:64],
            created_at=_aware(raw["created_at"]),
            updated_at=_aware(raw["updated_at"]),
        )
    except InvalidNewsError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidNewsError(f"article {raw.get('id')!r}: {error!r}", "missing_field") from None


class AlpacaNews:
    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        url_override: str | None = None,
        stream_url: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._keys = (api_key, secret_key)
        self._stream_url = stream_url or None
        self._timeout_seconds = timeout_seconds
        self._client = NewsClient(api_key, secret_key, url_override=url_override or None)
        self._client._retry = 0
        apply_timeout(self._client._session, timeout_seconds)
        self.rejected: Counter[str] = Counter()

    def _translate(self, error: Exception) -> ProviderError:
        transport = transport_error(PROVIDER, error, self._timeout_seconds)
        if transport is not None:
            return transport
        return ProviderUnavailableError(PROVIDER, f"{type(error).__name__}: {str(error)[:200]}")

    def accept(self, articles: Sequence[News | dict[str, Any]]) -> list[NewsItem]:
        """The usable articles; each unusable one is logged and counted by reason."""
        items = []
        for article in articles:
            try:
                items.append(news_item(article))
            except InvalidNewsError as error:
                self.rejected[error.reason] += 1
                log.warning("news article rejected (%s): %s", error.reason, error)
        return items

    def _fetch(self, symbols: Sequence[str], start: datetime, end: datetime) -> list[News]:
        request = NewsRequest(symbols=",".join(symbols), start=start, end=end, sort="ASC", limit=None)
        news_set = self._client.get_news(request)
        return list(news_set.data.get("news", []))  # type: ignore[union-attr]

    async def history(self, symbols: Sequence[str], start: datetime, end: datetime) -> list[NewsItem]:
        """Every article about `symbols` created in [start, end] (all pages), oldest first."""
        articles: list[News] = []
        for offset in range(0, len(symbols), SYMBOLS_PER_REQUEST):
            chunk = list(symbols[offset : offset + SYMBOLS_PER_REQUEST])
            try:
                articles += await asyncio.to_thread(self._fetch, chunk, start, end)
            except (APIError, requests.RequestException, ValidationError, ValueError, KeyError) as error:
                raise self._translate(error) from error
        return self.accept(articles)

    def stream(self, handler: Callable[[NewsItem], Awaitable[None]]) -> NewsDataStream:
        """A news stream for every symbol ("*") calling `handler` with each usable article."""
        stream = NewsDataStream(*self._keys, raw_data=True, url_override=self._stream_url)

        async def on_news(raw: Any) -> None:
            for item in self.accept([raw]):
                await handler(item)

        stream.subscribe_news(on_news, "*")
        return stream
