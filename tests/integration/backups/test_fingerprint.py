"""Backup checksums cover the data, not the coordination rows running processes keep rewriting."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.backups.fingerprint import fingerprint_tables
from trader.adapters.db.tables import job_runs, market_data, signals, system_flags

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


async def _job_runs(engine: AsyncEngine, first_rows: dict[str, int] | None = None) -> tuple[int, str]:
    async with engine.connect() as connection:
        found = (await fingerprint_tables(connection, first_rows=first_rows))["job_runs"]
    return found.rows, found.sha256


async def test_a_restore_is_verified_on_the_backups_rows_of_tables_a_running_system_appends_to(
    engine: AsyncEngine,
) -> None:
    def run(name: str) -> dict[str, object]:
        return {"job_name": name, "started_at": AT, "status": "succeeded"}

    async with engine.begin() as connection:
        await connection.execute(insert(job_runs), [run("backup"), run("health")])
    backed_up = await _job_runs(engine)
    async with engine.begin() as connection:  # the scheduler keeps recording after the restore
        await connection.execute(insert(job_runs), [run("health")])
    assert await _job_runs(engine) != backed_up
    assert await _job_runs(engine, {"job_runs": 2}) == backed_up
    async with engine.begin() as connection:  # a backed-up row that changed is still caught
        await connection.execute(
            update(job_runs).where(job_runs.c.job_name == "backup").values(status="failed")
        )
    assert await _job_runs(engine, {"job_runs": 2}) != backed_up


async def test_bars_stored_after_a_restore_are_not_the_backups(engine: AsyncEngine) -> None:
    def bar(day: int) -> dict[str, object]:
        price = Decimal("10")
        return {
            "symbol": "AAPL",
            "timeframe": "1day",
            "timestamp": datetime(2024, 3, day, 14, 30, tzinfo=UTC),
            "open_price": price,
            "high_price": price,
            "low_price": price,
            "close_price": price,
            "volume": Decimal(100),
            "source": "replay",
        }

    async with engine.begin() as connection:
        await connection.execute(insert(market_data), [bar(4), bar(5)])
    backed_up = await _fingerprint(engine, "market_data")
    async with engine.begin() as connection:  # the collector stores the next session's bar
        await connection.execute(insert(market_data), [bar(6)])
    assert await _fingerprint(engine, "market_data", 2) == backed_up
    async with engine.begin() as connection:  # a backed-up bar that changed is still caught
        await connection.execute(
            update(market_data).where(market_data.c.timestamp == bar(4)["timestamp"]).values(volume=1)
        )
    assert await _fingerprint(engine, "market_data", 2) != backed_up


async def test_signals_recorded_after_a_restore_are_not_the_backups(engine: AsyncEngine) -> None:
    """A restore under a running system: the strategies go on signalling on each closed bar."""

    def signal(day: int) -> dict[str, object]:
        at = datetime(2024, 3, day, 21, 0, tzinfo=UTC)
        return {
            "event_id": f"signal-{day}",
            "strategy_name": "default",
            "symbol": "AAPL",
            "timeframe": "1day",
            "bar_timestamp": at,
            "direction": "buy",
            "strength": Decimal("0.5"),
            "price": Decimal("10"),
            "timestamp": at,
        }

    async with engine.begin() as connection:
        await connection.execute(insert(signals), [signal(4), signal(5)])
    backed_up = await _fingerprint(engine, "signals")
    async with engine.begin() as connection:
        await connection.execute(insert(signals), [signal(6)])
    assert await _fingerprint(engine, "signals", 2) == backed_up
    async with engine.begin() as connection:  # a backed-up signal that changed is still caught
        await connection.execute(
            update(signals).where(signals.c.event_id == "signal-4").values(direction="sell")
        )
    assert await _fingerprint(engine, "signals", 2) != backed_up


async def _fingerprint(engine: AsyncEngine, table: str, backed_up_rows: int | None = None) -> tuple[int, str]:
    """One table's fingerprint; with `backed_up_rows`, of its first rows only (as a verification)."""
    first_rows = None if backed_up_rows is None else {table: backed_up_rows}
    async with engine.connect() as connection:
        found = (await fingerprint_tables(connection, first_rows=first_rows))[table]
    return found.rows, found.sha256
