"""The guide's backup and data scripts, run as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.backends import POSTGRES_ADMIN_URL, require, run_isolated
from tests.integration.export_service.seed import seed_history
from trader.adapters.backups.database import fingerprint_database
from trader.adapters.db.engine import create_engine
from trader.adapters.db.migrate import upgrade_database
from trader.adapters.db.provision import drop_database, provision_database
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.stores.strategies import StrategyConfig, StrategyConfigStore

REPOSITORY = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'trading_system.db'}"
        upgrade_database(url)
        yield url
        return
    require("PostgreSQL", "127.0.0.1", 5432)
    request.node.add_marker(pytest.mark.postgres)
    name = f"trading_system_backup_{os.getpid()}"
    run_isolated(lambda: provision_database(POSTGRES_ADMIN_URL, database=name, role="trader"))
    url = f"postgresql+asyncpg://trader@127.0.0.1:5432/{name}"
    upgrade_database(url)
    yield url
    run_isolated(lambda: drop_database(POSTGRES_ADMIN_URL, name))


def script(path: str, *arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, path, *arguments] if path.endswith(".py") else [path, *arguments]
    return subprocess.run(
        command, cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def environment_for(url: str, tmp_path: Path) -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("DATABASE", "BACKUP"))
    }
    environment.update(
        {
            "ENVIRONMENT": "test",
            "DATABASE_URL": url,
            "BACKUP_DIR": str(tmp_path / "backups"),
            "LOG_DIR": str(tmp_path / "logs"),
            "TRADER_BIN": str(Path(sys.executable).with_name("trader")),
            # The maintenance service is not running here; the emergency restore must say so and go on.
            "MAINTENANCE_SERVICE_PORT": "9",
        }
    )
    return environment


async def _wipe(url: str) -> None:
    """The data-loss incident: the SQLite file is gone, or PostgreSQL's schema is dropped."""
    if url.startswith("sqlite"):
        database = Path(url.split("///", 1)[1])
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            path.unlink(missing_ok=True)
        return
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def test_backup_wipe_restore_latest_loses_nothing(database_url: str, tmp_path: Path) -> None:
    environment = environment_for(database_url, tmp_path)
    engine = create_engine(database_url)
    await seed_history(engine)
    await engine.dispose()
    before = await fingerprint_database(database_url)
    assert before["market_data"].rows == 20 and before["fills"].rows == 3

    made = script("scripts/backup/backup.sh", environment=environment)
    assert made.returncode == 0, made.stderr
    assert "backup written" in made.stdout and "sha256:" in made.stdout
    verified = script("scripts/backup/verify_backups.sh", environment=environment)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "all 1 backup(s) verified" in verified.stdout

    await _wipe(database_url)
    restored = script("scripts/backup/restore.sh", "--latest", environment=environment)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "restore verified" in restored.stdout
    assert await fingerprint_database(database_url) == before

    tested = script("scripts/backup/test_restore.sh", "--full-test", environment=environment)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "test restore passed" in tested.stdout and "integrity checks clean" in tested.stdout

    emergency = script("scripts/backup/restore.sh", "--emergency", "--latest", environment=environment)
    assert emergency.returncode == 0, emergency.stdout + emergency.stderr
    assert "maintenance service not reachable" in emergency.stdout
    assert "trading stays HALTED" in emergency.stdout
    after = await fingerprint_database(database_url)
    assert after["market_data"] == before["market_data"] and after["trading_states"].rows == 1


async def test_a_damaged_backup_fails_verification_and_is_not_restored(
    database_url: str, tmp_path: Path
) -> None:
    environment = environment_for(database_url, tmp_path)
    assert script("scripts/backup/backup.sh", environment=environment).returncode == 0
    (archive,) = [path for path in (tmp_path / "backups").iterdir() if not path.name.endswith(".json")]
    with archive.open("r+b") as handle:
        handle.seek(archive.stat().st_size // 2)
        handle.write(b"\x00corrupt\x00")
    verified = script("scripts/backup/verify_backups.sh", environment=environment)
    assert verified.returncode == 1 and "does not match the manifest" in verified.stdout
    refused = script("scripts/backup/restore.sh", "--latest", environment=environment)
    assert refused.returncode == 1 and "refusing to restore" in refused.stderr


async def test_validate_integrity_reports_what_is_wrong_and_exits_non_zero(
    database_url: str, tmp_path: Path
) -> None:
    environment = environment_for(database_url, tmp_path)
    engine = create_engine(database_url)
    await seed_history(engine)
    clean = script("scripts/data/validate_integrity.py", "--full-check", environment=environment)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "RESULT: OK" in clean.stdout
    async with engine.begin() as connection:
        # A position that no longer matches its fills, and an order whose fills do not add up.
        await connection.execute(text("UPDATE positions SET quantity = 7 WHERE symbol = 'AAPL'"))
        await connection.execute(text("UPDATE trades SET filled_quantity = 4 WHERE client_order_id = 'c-2'"))
        # A whole session missing in the middle of MSFT's daily bars.
        await connection.execute(
            text(
                "DELETE FROM market_data WHERE symbol = 'MSFT' AND timestamp = (SELECT MIN(timestamp) "
                "FROM market_data WHERE symbol = 'MSFT' "
                "AND timestamp > (SELECT MIN(timestamp) FROM market_data))"
            )
        )
    await engine.dispose()
    broken = script("scripts/data/validate_integrity.py", "--full", environment=environment)
    assert broken.returncode == 1
    assert "[ERROR] positions_match_fills" in broken.stdout
    assert "AAPL: position 7, fills net to 3" in broken.stdout
    assert "[ERROR] order_fill_totals" in broken.stdout
    assert (
        "[ERROR] market_data_gaps" in broken.stdout and "MSFT 1day: no bars on 1 session(s)" in broken.stdout
    )
    assert "RESULT: FAILED" in broken.stdout
    quick = script("scripts/data/validate_integrity.py", environment=environment)
    assert quick.returncode == 1 and "market_data_gaps" not in quick.stdout


async def test_cleanup_old_data_dry_run_then_delete(database_url: str, tmp_path: Path) -> None:
    # Ten daily bars each of AAPL and MSFT from March 2024 (all older than 30 days), an enabled
    # strategy on AAPL that needs 4 of them (sma 1/2: lookback 3, plus the bar being built), and
    # model training on MSFT's newest 300 (only 10 are stored, so all of them stay).
    environment = environment_for(database_url, tmp_path) | {
        "DATA_WATCHLIST": "MSFT",
        "MODEL_TRAINING_MAX_BARS": "300",
    }
    engine = create_engine(database_url)
    await seed_history(engine)
    trend = StrategyConfig(
        "trend", "sma_crossover", {"fast_window": 1, "slow_window": 2}, ["AAPL"], "1day", True, "test"
    )
    await StrategyConfigStore(engine).create(trend, datetime.now(UTC))
    await StrategyConfigStore(engine).create(
        replace(trend, name="off", symbols=["MSFT", "IBM"], enabled=False), datetime.now(UTC)
    )
    await engine.dispose()
    dry = script("scripts/data/cleanup_old_data.py", "--days", "30", "--dry-run", environment=environment)
    assert dry.returncode == 0, dry.stderr
    assert "market_data        would delete 6" in dry.stdout and "DRY RUN" in dry.stdout
    assert "would be kept, because the enabled strategies and the models need them" in dry.stdout
    assert re.search(
        r"AAPL: kept 4 older bar\(s\) \(from 2024-03-1\d.*\) for strategy trend: lookback 3 \+ 1 1day bars",
        dry.stdout,
    ), dry.stdout
    assert "MSFT: kept 10 older bar(s)" in dry.stdout and "for model training: newest 300 bars" in dry.stdout
    assert "IBM" not in dry.stdout  # the disabled configuration needs nothing
    assert (await fingerprint_database(database_url))["market_data"].rows == 20
    done = script("scripts/data/cleanup_old_data.py", "--days", "30", environment=environment)
    assert done.returncode == 0 and "deleted 10 row(s) in total" in done.stdout, done.stdout
    after = await fingerprint_database(database_url)
    assert (after["market_data"].rows, after["account_snapshots"].rows, after["fills"].rows) == (14, 0, 3)
    engine = create_engine(database_url)
    try:
        aapl = await MarketDataStore(engine).bars("AAPL")
    finally:
        await engine.dispose()
    assert [bar.open for bar in aapl] == [
        Decimal(106),
        Decimal(107),
        Decimal(108),
        Decimal(109),
    ]  # the newest
    logged = (tmp_path / "logs" / "trader.log").read_text()
    assert (
        "retention kept AAPL: kept 4 older bar(s)" in logged
        and "retention deleted 6 row(s) of market_data" in logged
    )
    assert script("scripts/data/cleanup_old_data.py", "--help", environment=environment).returncode == 0
