"""The migrations build exactly the schema tables.py describes, on both back ends, and reverse."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.backends import run_isolated
from trader.adapters.db.engine import create_engine
from trader.adapters.db.migrate import current_revision, downgrade_database, head_revision, upgrade_database
from trader.adapters.db.tables import metadata


async def _differences(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), metadata
            )
        )


def _schema_drift(url: str) -> list[object]:
    async def check() -> list[object]:
        engine = create_engine(url)
        try:
            return await _differences(engine)
        finally:
            await engine.dispose()

    return run_isolated(check)


def test_sqlite_schema_matches_the_tables(sqlite_url: str) -> None:
    assert current_revision(sqlite_url) == head_revision()
    assert _schema_drift(sqlite_url) == []


def test_postgres_schema_matches_the_tables(postgres_url: str) -> None:
    assert current_revision(postgres_url) == head_revision()
    assert _schema_drift(postgres_url) == []


def test_migrations_reverse_to_nothing_and_come_back(sqlite_url: str) -> None:
    downgrade_database(sqlite_url, "base")

    async def table_names() -> set[str]:
        engine = create_engine(sqlite_url)
        try:
            async with engine.connect() as connection:
                return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    assert run_isolated(table_names) <= {"alembic_version"}
    upgrade_database(sqlite_url)
    assert set(metadata.tables) <= run_isolated(table_names)
    assert _schema_drift(sqlite_url) == []
