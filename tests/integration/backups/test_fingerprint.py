"""Backup checksums cover the data, not the coordination rows running processes keep rewriting."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.backups.fingerprint import fingerprint_tables
from trader.adapters.db.tables import system_flags

AT = datetime(2024, 3, 8, tzinfo=UTC)


async def _system_flags_checksum(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        return (await fingerprint_tables(connection))["system_flags"].sha256


async def test_runtime_markers_do_not_change_the_checksum_but_real_flags_do(engine: AsyncEngine) -> None:
    rows = [
        {"name": name, "value": {"v": 1}, "reason": "r", "changed_by": "t", "updated_at": AT}
        for name in ("replay_clock", "executor.bar_applied:AAPL", "maintenance_mode")
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(system_flags), rows)
    baseline = await _system_flags_checksum(engine)
    async with engine.begin() as connection:
        await connection.execute(
            update(system_flags).where(system_flags.c.name != "maintenance_mode").values(value={"v": 2})
        )
    assert await _system_flags_checksum(engine) == baseline
    async with engine.begin() as connection:
        await connection.execute(
            update(system_flags).where(system_flags.c.name == "maintenance_mode").values(value={"v": 2})
        )
    assert await _system_flags_checksum(engine) != baseline
