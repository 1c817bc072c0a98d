"""Rows per second into `market_data`, ours against the plain driver baselines, in one run.

    python -m bench.ingest --rows 1000000 [--chunk 100000] [--postgres-admin-url URL] [--skip-postgres]

- SQLite: `MarketDataStore.upsert_bars` (one executemany upsert per chunk) against a plain
  sqlite3 `executemany` INSERT of the same rows into an empty table of the same schema.
- PostgreSQL: `upsert_bars` (COPY into a staging table, one INSERT ... ON CONFLICT merge) against
  asyncpg `copy_records_to_table` straight into an empty `market_data`.
Also measured: re-ingesting the same rows through `upsert_bars` (every row unchanged).
Bars are built outside the timed region; each timing covers only the writes of all chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg

from trader.adapters.db.engine import create_engine
from trader.adapters.db.provision import drop_database, provision_database
from trader.adapters.db.stores.market_data import (
    RECORD_COLUMNS,
    MarketDataStore,
    postgres_record,
    sqlite_record,
)
from trader.adapters.db.tables import metadata
from trader.core.market import Bar, Timeframe

START = datetime(2020, 1, 2, 14, 30, tzinfo=UTC)


def chunks(rows: int, chunk: int) -> Iterator[list[Bar]]:
    """Deterministic 1-minute bars: 100 symbols, consecutive minutes, prices on a cent grid."""
    symbols = [f"S{number:03d}" for number in range(100)]
    made = 0
    while made < rows:
        size = min(chunk, rows - made)
        bars = []
        for index in range(made, made + size):
            symbol = symbols[index % 100]
            minute = index // 100
            cents = 10_000 + (index * 7919) % 5_000
            price = Decimal(cents).scaleb(-2)
            bars.append(
                Bar(
                    symbol,
                    Timeframe.MINUTE1,
                    START + timedelta(minutes=minute),
                    price,
                    price + Decimal("0.05"),
                    price - Decimal("0.05"),
                    price + Decimal("0.01"),
                    Decimal(100 + index % 900),
                    source="bench",
                )
            )
        made += size
        yield bars


async def _create_schema(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
    await engine.dispose()


async def _timed_upserts(url: str, rows: int, chunk: int) -> tuple[float, float]:
    """Seconds for the first ingest (all new) and for re-ingesting the same rows (all unchanged)."""
    engine = create_engine(url)
    store = MarketDataStore(engine)
    first = again = 0.0
    for bars in chunks(rows, chunk):
        started = time.perf_counter()
        result = await store.upsert_bars(bars)
        first += time.perf_counter() - started
        assert result.inserted == len(bars), result
    for bars in chunks(rows, chunk):
        started = time.perf_counter()
        result = await store.upsert_bars(bars)
        again += time.perf_counter() - started
        assert result.unchanged == len(bars), result
    await engine.dispose()
    return first, again


async def bench_sqlite(rows: int, chunk: int, directory: Path) -> dict[str, float]:
    ours_url = f"sqlite+aiosqlite:///{directory / 'ours.db'}"
    await _create_schema(ours_url)
    first, again = await _timed_upserts(ours_url, rows, chunk)

    baseline_path = directory / "baseline.db"
    await _create_schema(f"sqlite+aiosqlite:///{baseline_path}")
    connection = sqlite3.connect(baseline_path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    placeholders = ", ".join("?" for _ in RECORD_COLUMNS)
    statement = f"INSERT INTO market_data ({', '.join(RECORD_COLUMNS)}) VALUES ({placeholders})"
    baseline = 0.0
    for bars in chunks(rows, chunk):
        records = [sqlite_record(bar, None) for bar in bars]
        started = time.perf_counter()
        connection.executemany(statement, records)
        connection.commit()
        baseline += time.perf_counter() - started
    connection.close()
    return {
        "ours_rows_per_s": rows / first,
        "reingest_rows_per_s": rows / again,
        "baseline_rows_per_s": rows / baseline,
    }


async def bench_postgres(rows: int, chunk: int, admin_url: str) -> dict[str, float]:
    name = f"bench_ingest_{os.getpid()}"
    await provision_database(admin_url, database=name, role="trader")
    url = f"postgresql+asyncpg://trader@127.0.0.1:5432/{name}"
    try:
        await _create_schema(url)
        first, again = await _timed_upserts(url, rows, chunk)

        await _create_schema(url)
        connection = await asyncpg.connect(f"postgresql://trader@127.0.0.1:5432/{name}")
        baseline = 0.0
        for bars in chunks(rows, chunk):
            records = [postgres_record(bar, None) for bar in bars]
            started = time.perf_counter()
            await connection.copy_records_to_table("market_data", records=records, columns=RECORD_COLUMNS)
            baseline += time.perf_counter() - started
        await connection.close()
    finally:
        await drop_database(admin_url, name)
    return {
        "ours_rows_per_s": rows / first,
        "reingest_rows_per_s": rows / again,
        "baseline_rows_per_s": rows / baseline,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--output", type=Path, default=Path("artifacts/bench_ingest.json"))
    arguments = parser.parse_args()

    results: dict[str, object] = {"rows": arguments.rows, "chunk": arguments.chunk}
    with tempfile.TemporaryDirectory() as directory:
        results["sqlite"] = await bench_sqlite(arguments.rows, arguments.chunk, Path(directory))
    if not arguments.skip_postgres:
        results["postgresql"] = await bench_postgres(
            arguments.rows, arguments.chunk, arguments.postgres_admin_url
        )
    print(f"{'backend':<11} {'upsert_bars':>14} {'re-ingest':>14} {'baseline':>14} {'ratio':>7}")
    for backend in ("sqlite", "postgresql"):
        figures = results.get(backend)
        if isinstance(figures, dict):
            ratio = figures["ours_rows_per_s"] / figures["baseline_rows_per_s"]
            figures["ratio"] = ratio
            ours, again, base = (
                figures["ours_rows_per_s"],
                figures["reingest_rows_per_s"],
                figures["baseline_rows_per_s"],
            )
            print(f"{backend:<11} {ours:>12,.0f}/s {again:>12,.0f}/s {base:>12,.0f}/s {ratio:>7.2f}")
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2))
    postgres = results.get("postgresql")
    if isinstance(postgres, dict) and postgres["ratio"] < 0.5:
        raise SystemExit(
            f"PostgreSQL upsert path reached {postgres['ratio']:.2f} of the raw COPY rate (< 0.5)"
        )


if __name__ == "__main__":
    asyncio.run(main())
