"""A test database emptied before a whole system starts on it, and read by SQL afterwards.

The session's PostgreSQL database (conftest's `postgres_url`) is shared by every test of a worker,
in whatever order pytest-xdist hands out the modules; a system started on it must not find the
watchlist, configurations or books another test left there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.backends import run_isolated
from trader.adapters.db.engine import create_engine
from trader.adapters.db.tables import metadata


async def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            names = ", ".join(table.name for table in metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


def empty_database(url: str) -> str:
    """Every table of the migrated database at `url` emptied (sequences restarted); returns `url`."""
    run_isolated(lambda: _truncate_all(url))
    return url


async def _query(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in (await connection.execute(text(query))).all()]
    finally:
        await engine.dispose()


def query_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    """The rows of one SQL query, from a test that has no event loop of its own."""
    return run_isolated(lambda: _query(url, query))
