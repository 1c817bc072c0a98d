"""News articles in `news` (one row per version) and `news_symbols` (the look-up by symbol).

A version already stored is skipped, so the REST backfill and the live stream may deliver the same
article any number of times. Reads are point in time: what had been published by a moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trader.adapters.db.tables import news, news_symbols
from trader.core.news import NewsItem, known_at

# Versions read per article wanted: an article is rarely edited more than a few times.
_VERSIONS_PER_ARTICLE = 4


def _insert_ignoring_duplicates(connection: AsyncConnection, table: Any, keys: list[str]) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)


def _item(row: Any) -> NewsItem:
    return NewsItem(
        article_id=int(row["id"]),
        headline=row["headline"],
        summary=row["summary"],
        symbols=tuple(row["symbols"] or ()),
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class NewsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, items: Sequence[NewsItem], received_at: datetime) -> int:
        """Store the versions not stored yet, in one transaction; returns how many were new."""
        unique = list({item.version_key: item for item in items}.values())
        if not unique:
            return 0
        async with self._engine.begin() as connection:
            stored = 0
            for item in unique:
                result = await connection.execute(
                    _insert_ignoring_duplicates(connection, news, ["id", "updated_at"]),
                    {
                        "id": item.article_id,
                        "updated_at": item.updated_at,
                        "headline": item.headline,
                        "summary": item.summary,
                        "symbols": list(item.symbols),
                        "source": item.source,
                        "created_at": item.created_at,
                        "received_at": received_at,
                    },
                )
                if not result.rowcount:
                    continue
                stored += 1
                if item.symbols:
                    await connection.execute(
                        _insert_ignoring_duplicates(
                            connection, news_symbols, ["symbol", "news_id", "news_updated_at"]
                        ),
                        [
                            {
                                "symbol": symbol,
                                "news_id": item.article_id,
                                "news_updated_at": item.updated_at,
                                "created_at": item.created_at,
                            }
                            for symbol in item.symbols
                        ],
                    )
        return stored

    async def known_at(
        self, symbol: str, moment: datetime, *, limit: int, since: datetime | None = None
    ) -> list[NewsItem]:
        """The newest `limit` articles about `symbol` published by `moment` (each as it read then)."""
        if limit <= 0:
            return []
        link = news_symbols.c
        conditions = [
            link.symbol == symbol,
            link.created_at <= moment,
            link.news_updated_at <= moment,
        ]
        if since is not None:
            conditions.append(link.created_at >= since)
        query = (
            select(news)
            .join(news_symbols, and_(news.c.id == link.news_id, news.c.updated_at == link.news_updated_at))
            .where(*conditions)
            .order_by(link.created_at.desc(), link.news_id.desc(), link.news_updated_at.desc())
            .limit(limit * _VERSIONS_PER_ARTICLE)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return known_at([_item(row) for row in rows], moment)[:limit]

    async def latest(
        self,
        *,
        symbol: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        """Articles created in [start, end), newest first, each in its latest stored version."""
        query = select(news)
        if symbol is not None:
            query = query.join(
                news_symbols,
                and_(
                    news.c.id == news_symbols.c.news_id, news.c.updated_at == news_symbols.c.news_updated_at
                ),
            ).where(news_symbols.c.symbol == symbol)
        if start is not None:
            query = query.where(news.c.created_at >= start)
        if end is not None:
            query = query.where(news.c.created_at < end)
        query = query.order_by(news.c.created_at.desc(), news.c.id.desc(), news.c.updated_at.desc())
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.limit(limit * _VERSIONS_PER_ARTICLE))).mappings().all()
        newest: dict[int, NewsItem] = {}
        for row in rows:
            newest.setdefault(int(row["id"]), _item(row))
        ordered = sorted(newest.values(), key=lambda item: (item.created_at, item.article_id), reverse=True)
        return ordered[:limit]

    async def newest_created_at(self) -> datetime | None:
        async with self._engine.connect() as connection:
            return (
                await connection.execute(
                    select(news.c.created_at).order_by(news.c.created_at.desc()).limit(1)
                )
            ).scalar()
