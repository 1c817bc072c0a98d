"""Async engines for both back ends, configured for how this system uses them."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


class DatabaseUnavailableError(RuntimeError):
    """The database did not answer; retry after it is back (the message names the URL, never secrets)."""


def redacted(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the seven services read while one writes; busy_timeout queues writers instead
    # of failing them; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def json_text(value: Any) -> str:
    """JSON for the database's JSON columns: a value that is not a finite number (NaN, infinity,
    which a model's output or a ratio over nothing can be) is written as null. JSON has no
    such numbers; PostgreSQL refuses them, SQLite would keep text no other reader parses."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, json_serializer=json_text)
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        json_serializer=json_text,
        connect_args={"timeout": 5, "server_settings": {"application_name": "full-ai-trader"}},
    )


async def ping(engine: AsyncEngine) -> float:
    """Run `SELECT 1`; return the round trip in milliseconds or raise DatabaseUnavailableError."""
    started = time.perf_counter()
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means the same thing to a health check
        raise DatabaseUnavailableError(
            f"database {redacted(str(engine.url))} unavailable: {type(error).__name__}: {error}"
        ) from error
    return (time.perf_counter() - started) * 1000
