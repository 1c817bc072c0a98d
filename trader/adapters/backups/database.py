"""Take, restore and check backups of the one database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

import trader
from trader.adapters.backups.catalog import (
    BackupError,
    BackupManifest,
    StoredBackup,
    backup_name,
    sha256_of,
    write_manifest,
)
from trader.adapters.backups.fingerprint import StepProgress, TableFingerprint, fingerprint_tables
from trader.adapters.db.engine import create_engine, redacted
from trader.adapters.db.migrate import current_revision
from trader.adapters.db.provision import ProvisioningError, drop_database, provision_database

SQLITE_SUFFIX = ".sqlite3.gz"
POSTGRES_SUFFIX = ".pgdump"
_CHUNK_BYTES = 1 << 20
_PAGES_PER_STEP = 1024  # SQLite's backup API copies this many pages, then reports


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url} is not a SQLite file that can be backed up")
    return Path(database)


@dataclass(frozen=True, slots=True)
class _Libpq:
    """What pg_dump / pg_restore need; the password travels in the environment, never argv."""

    arguments: list[str]
    environment: dict[str, str]
    database: str


def _libpq(url: str, database: str | None = None) -> _Libpq:
    parsed = make_url(url)
    arguments = ["--host", parsed.host or "127.0.0.1", "--port", str(parsed.port or 5432)]
    if parsed.username:
        arguments += ["--username", parsed.username]
    name = database or parsed.database or "trading_system"
    environment = dict(os.environ)
    if parsed.password:
        environment["PGPASSWORD"] = str(parsed.password)
    return _Libpq([*arguments, "--dbname", name], environment, name)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed; install the PostgreSQL client tools (postgresql-client)")
    return found


async def _run(command: list[str], environment: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip() or stdout.decode(errors="replace").strip()
        raise BackupError(f"{Path(command[0]).name} failed (exit {process.returncode}): {message[-2000:]}")
    return stdout.decode(errors="replace")


@asynccontextmanager
async def _connection(url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def fingerprint_database(
    url: str, progress: StepProgress | None = None, first_rows: Mapping[str, int] | None = None
) -> dict[str, TableFingerprint]:
    async with _connection(url) as connection:
        return await fingerprint_tables(connection, progress, first_rows)


# --------------------------------------------------------------------------------------------
# Create


def _pages(step: str, progress: StepProgress | None) -> Callable[[int, int, int], object] | None:
    if progress is None:
        return None
    return lambda _status, remaining, total: progress(step, total - remaining, total)


def _sqlite_snapshot(source: Path, target: Path, progress: StepProgress | None = None) -> None:
    # The online backup API copies a consistent snapshot while writers carry on.
    with sqlite3.connect(source, timeout=30) as live, sqlite3.connect(target) as copy:
        live.backup(copy, pages=_PAGES_PER_STEP, progress=_pages("snapshot", progress))
    copy.close()
    live.close()


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _copy(reader: BinaryIO, writer: _Writable, step: str, total: int, progress: StepProgress | None) -> None:
    done = 0
    while chunk := reader.read(_CHUNK_BYTES):
        writer.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(step, min(done, total), total)


def _gzip(source: Path, target: Path, progress: StepProgress | None = None) -> None:
    with source.open("rb") as raw, gzip.open(target, "wb", compresslevel=6) as packed:
        _copy(raw, packed, "compress", source.stat().st_size, progress)


async def _backup_sqlite(
    url: str, archive: Path, progress: StepProgress | None
) -> dict[str, TableFingerprint]:
    source = sqlite_path(url)
    if not source.exists():
        raise BackupError(f"database file {source} does not exist; nothing to back up")
    with tempfile.TemporaryDirectory(dir=archive.parent) as scratch:
        snapshot = Path(scratch) / "snapshot.db"
        await asyncio.to_thread(_sqlite_snapshot, source, snapshot, progress)
        await asyncio.to_thread(_gzip, snapshot, archive, progress)
        # The checksums describe the snapshot itself, so they match the archive exactly.
        return await fingerprint_database(f"sqlite+aiosqlite:///{snapshot}", progress)


async def _backup_postgres(
    url: str, archive: Path, progress: StepProgress | None
) -> dict[str, TableFingerprint]:
    pg_dump = _tool("pg_dump")
    libpq = _libpq(url)
    async with _connection(url) as connection:
        connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        async with connection.begin():
            await connection.execute(text("SET TRANSACTION READ ONLY"))
            snapshot = (await connection.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            # pg_dump reads the very snapshot this transaction holds, and the checksums are taken
            # in it too: concurrent writes can change neither.
            await _run(
                [
                    pg_dump,
                    *libpq.arguments,
                    "--format=custom",
                    "--compress=6",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={archive}",
                ],
                libpq.environment,
            )
            return await fingerprint_tables(connection, progress)


async def create_backup(
    url: str, directory: Path, *, now: datetime | None = None, progress: StepProgress | None = None
) -> StoredBackup:
    created_at = now or datetime.now(UTC)
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    backend = backend_of(url)
    name = backup_name(created_at)
    archive = directory / f"{name}{SQLITE_SUFFIX if backend == 'sqlite' else POSTGRES_SUFFIX}"
    partial = archive.with_name(archive.name + ".partial")
    try:
        if backend == "sqlite":
            tables = await _backup_sqlite(url, partial, progress)
        else:
            tables = await _backup_postgres(url, partial, progress)
        partial.replace(archive)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    manifest = BackupManifest(
        name=name,
        created_at=created_at,
        backend=backend,
        database=redacted(url),
        archive=archive.name,
        archive_sha256=await asyncio.to_thread(sha256_of, archive),
        archive_bytes=archive.stat().st_size,
        schema_revision=await asyncio.to_thread(current_revision, url),
        trader_version=trader.__version__,
        tables={table: fingerprint.as_dict() for table, fingerprint in tables.items()},
    )
    return StoredBackup(manifest, write_manifest(directory, manifest))


# --------------------------------------------------------------------------------------------
# Restore


def _gunzip(source: Path, target: Path, progress: StepProgress | None = None) -> None:
    # Progress counts compressed bytes read, the only size known before the end.
    total = source.stat().st_size
    with source.open("rb") as compressed, gzip.open(compressed, "rb") as packed, target.open("wb") as raw:
        while chunk := packed.read(_CHUNK_BYTES):
            raw.write(chunk)
            if progress is not None:
                progress("decompress", min(compressed.tell(), total), total)


def _sqlite_restore(snapshot: Path, target: Path, progress: StepProgress | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        # A journal left beside a deleted database would be replayed into the new one.
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(snapshot) as source, sqlite3.connect(target, timeout=30) as live:
        source.backup(live, pages=_PAGES_PER_STEP, progress=_pages("restore", progress))
    source.close()
    live.close()


def _require_backend(backup: StoredBackup, url: str) -> None:
    backend = backend_of(url)
    if backup.manifest.backend != backend:
        raise BackupError(
            f"backup {backup.manifest.name} is a {backup.manifest.backend} backup; "
            f"the target database is {backend}"
        )


async def restore_backup(backup: StoredBackup, url: str, progress: StepProgress | None = None) -> None:
    """Replace the database's contents with the backup's (checksum checked first)."""
    from trader.adapters.backups.catalog import checksum_problem

    _require_backend(backup, url)
    problem = await asyncio.to_thread(checksum_problem, backup)
    if problem is not None:
        raise BackupError(f"refusing to restore {backup.manifest.name}: {problem}")
    if backup.manifest.backend == "sqlite":
        target = sqlite_path(url)
        with tempfile.TemporaryDirectory(dir=target.parent if target.parent.exists() else None) as scratch:
            snapshot = Path(scratch) / "restore.db"
            await asyncio.to_thread(_gunzip, backup.archive_path, snapshot, progress)
            await asyncio.to_thread(_sqlite_restore, snapshot, target, progress)
        return
    libpq = _libpq(url)
    await _run(
        [
            _tool("pg_restore"),
            *libpq.arguments,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            str(backup.archive_path),
        ],
        libpq.environment,
    )


def compare_with_manifest(manifest: BackupManifest, actual: dict[str, TableFingerprint]) -> list[str]:
    """What differs between the backup's tables and a database's; empty when they are identical."""
    problems = []
    for table, expected in sorted(manifest.tables.items()):
        found = actual.get(table)
        if found is None:
            problems.append(f"{table}: missing after restore")
        elif found.rows != int(expected["rows"]):
            problems.append(f"{table}: {found.rows} rows, the backup has {expected['rows']}")
        elif found.sha256 != expected["sha256"]:
            problems.append(f"{table}: same row count but different content (checksum mismatch)")
    return problems


# --------------------------------------------------------------------------------------------
# Deeper checks


async def archive_problem(backup: StoredBackup) -> str | None:
    """Beyond the checksum: does the archive open as what it claims to be?"""
    if backup.manifest.backend == "sqlite":
        with tempfile.TemporaryDirectory() as scratch:
            snapshot = Path(scratch) / "check.db"
            try:
                await asyncio.to_thread(_gunzip, backup.archive_path, snapshot)
            except (OSError, EOFError) as error:
                return f"archive does not unpack: {error}"

            def integrity() -> str:
                with sqlite3.connect(snapshot) as connection:
                    result = str(connection.execute("PRAGMA integrity_check").fetchone()[0])
                connection.close()
                return result

            try:
                verdict = await asyncio.to_thread(integrity)
            except sqlite3.DatabaseError as error:
                return f"not a SQLite database: {error}"
            return None if verdict == "ok" else f"SQLite integrity_check: {verdict}"
    try:
        listing = await _run([_tool("pg_restore"), "--list", str(backup.archive_path)])
    except BackupError as error:
        return str(error)
    missing = [table for table in backup.manifest.tables if f"TABLE DATA public {table} " not in listing]
    return f"archive lacks data for {', '.join(missing)}" if missing else None


@asynccontextmanager
async def scratch_database(url: str, *, admin_url: str | None = None) -> AsyncIterator[str]:
    """A throw-away database of the same kind as `url`, dropped afterwards."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    if backend_of(url) == "sqlite":
        with tempfile.TemporaryDirectory() as scratch:
            yield f"sqlite+aiosqlite:///{Path(scratch) / 'restore_test.db'}"
        return
    parsed = make_url(url)
    name = f"{parsed.database or 'trading_system'}_restore_test_{stamp}"[:63]
    owner_url = url
    try:
        connection = await asyncpg.connect(_plain(url), timeout=10)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
    except asyncpg.InsufficientPrivilegeError:
        if admin_url is None:
            raise BackupError(
                f"role {parsed.username} may not create databases; "
                "set POSTGRES_ADMIN_URL for the scratch copy"
            ) from None
        try:
            await provision_database(admin_url, database=name, role=parsed.username or "trader")
        except ProvisioningError as error:
            raise BackupError(f"cannot create the scratch database: {error}") from error
        owner_url = admin_url
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        await drop_database(_plain(owner_url), name)


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
