"""Backups and restores report real progress per step (what the CLI's bars show)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from trader.adapters.backups.database import create_backup, fingerprint_database, restore_backup
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.core.market import Bar, Timeframe

START = datetime(2024, 3, 8, 14, 30, tzinfo=UTC)


async def test_backup_and_restore_report_every_step(tmp_path: Path, sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    await MarketDataStore(engine).upsert_bars(
        [
            Bar(
                "AAPL",
                Timeframe.MINUTE1,
                START + timedelta(minutes=m),
                Decimal(100),
                Decimal(101),
                Decimal(99),
                Decimal("100.5"),
                Decimal(1000 + m),
                source="test",
            )
            for m in range(3000)
        ]
    )
    await engine.dispose()
    seen: dict[str, list[tuple[int, int]]] = {}

    def record(step: str, done: int, total: int) -> None:
        seen.setdefault(step, []).append((done, total))

    stored = await create_backup(sqlite_url, tmp_path / "backups", progress=record)
    assert {"snapshot", "compress", "checksums", "checksum market_data"} <= set(seen)
    for step in ("snapshot", "compress", "checksums"):
        done, total = seen[step][-1]
        assert done == total > 0, (step, seen[step])
    assert seen["compress"][-1][1] > 100_000  # real bytes of the snapshot, not a token count

    seen.clear()
    await restore_backup(stored, sqlite_url, record)
    assert {"decompress", "restore"} <= set(seen)
    assert seen["restore"][-1][0] == seen["restore"][-1][1] > 0
    assert (await fingerprint_database(sqlite_url))["market_data"].rows == 3000
