"""Shared set-up for the maintenance tests."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import system_flags


async def ensure_system_flags(engine: AsyncEngine) -> None:
    """The table lands with the lead's next migration; until then create just it (no-op afterwards)."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: system_flags.create(sync, checkfirst=True))
