"""Schema migrations (Alembic) that run on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from trader.adapters.db.engine import create_engine

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is an interpolation character in Alembic's config parser.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _outside_event_loop(work: Callable[[], T]) -> T:
    """Alembic's env runs its own event loop; from inside a running loop, give it a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (blocking; from async code prefer asyncio.to_thread)."""
    _outside_event_loop(lambda: command.upgrade(alembic_config(url), revision))


def downgrade_database(url: str, revision: str) -> None:
    _outside_event_loop(lambda: command.downgrade(alembic_config(url), revision))


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    return _outside_event_loop(lambda: asyncio.run(_current_revision_async(url)))


async def _current_revision_async(url: str) -> str | None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync_connection: MigrationContext.configure(sync_connection).get_current_revision()
            )
    finally:
        await engine.dispose()
