"""`trader backup` (create, list, verify, test-restore, prune) and `trader restore`."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

from trader.adapters.backups.catalog import (
    BackupError,
    StoredBackup,
    checksum_problem,
    find_backup,
    latest_backup,
    list_backups,
    prune_backups,
)
from trader.adapters.backups.database import (
    archive_problem,
    backend_of,
    compare_with_manifest,
    create_backup,
    fingerprint_database,
    restore_backup,
    scratch_database,
)
from trader.adapters.backups.fingerprint import StepProgress
from trader.adapters.db.engine import redacted
from trader.commands.ops import EnvironmentOption, JsonOption, console, errors, fail, settings_for
from trader.settings import Settings

app = typer.Typer(
    help="Back up the database (pg_dump or SQLite's online backup) with checksum, manifest and retention.",
    invoke_without_command=True,
)
restore_app = typer.Typer(
    help="Restore the database from a backup, then verify it.", invoke_without_command=True
)

DirectoryOption = Annotated[Path | None, typer.Option("--dir", help="backup directory (default BACKUP_DIR)")]
PRE_RESTORE_DIR = "pre_restore"


@contextmanager
def step_progress() -> Iterator[StepProgress]:
    """A progress bar per step (snapshot, compress, checksums...), fed by the backup code itself."""
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TaskProgressColumn(),
        console=errors,
        transient=True,
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def report(step: str, done: int, total: int) -> None:
            # Per-table checksum steps share one bar, labelled with the table in progress.
            key = "checksums" if step.startswith("checksum") else step
            if key not in tasks:
                tasks[key] = bars.add_task(step, total=total or None)
            bars.update(tasks[key], description=step, completed=done, total=total or None)

        yield report


def _directory(settings: Settings, directory: Path | None) -> Path:
    return directory or settings.backup_dir


def _describe(backup: StoredBackup) -> str:
    manifest = backup.manifest
    return (
        f"{manifest.name} ({manifest.backend}, {manifest.archive_bytes / 1024:.1f} KiB, "
        f"{manifest.total_rows} rows in {len(manifest.tables)} tables, "
        f"created {manifest.created_at.isoformat(timespec='seconds')})"
    )


@app.callback()
def backup(
    context: typer.Context,
    environment: EnvironmentOption = None,
    directory: DirectoryOption = None,
    prune: Annotated[bool, typer.Option(help="apply the retention policy afterwards")] = True,
) -> None:
    """Take a backup now (when no sub-command is given)."""
    if context.invoked_subcommand is not None:
        context.obj = {"environment": environment, "directory": directory}
        return
    settings = settings_for(environment)
    target = _directory(settings, directory)
    url = settings.effective_database_url
    try:
        with step_progress() as progress:
            stored = asyncio.run(create_backup(url, target, progress=progress))
    except BackupError as error:
        raise fail(f"backup of {redacted(url)} failed: {error}") from None
    console.print(f"[green]backup written[/green]: {stored.archive_path}")
    console.print(f"  manifest: {stored.manifest_path}")
    console.print(f"  sha256:   {stored.manifest.archive_sha256}")
    console.print(f"  {_describe(stored)}")
    if prune:
        removed = prune_backups(
            target,
            retention_days=settings.backup_retention_days,
            keep_minimum=settings.backup_keep_minimum,
            now=datetime.now(UTC),
        )
        for old in removed:
            console.print(f"  pruned {old.manifest.name} (older than {settings.backup_retention_days} days)")


def _options(context: typer.Context) -> tuple[Settings, Path]:
    shared = context.obj or {}
    settings = settings_for(shared.get("environment"))
    return settings, _directory(settings, shared.get("directory"))


@app.command("list")
def list_command(context: typer.Context, as_json: JsonOption = False) -> None:
    """List the backups, newest first."""
    _settings, directory = _options(context)
    try:
        backups = list_backups(directory)
    except BackupError as error:
        raise fail(str(error)) from None
    if as_json:
        sys.stdout.write(json.dumps([manifest_summary(b) for b in backups], indent=2) + "\n")
        return
    if not backups:
        console.print(f"no backups in {directory}")
        return
    for stored in backups:
        console.print(_describe(stored))


@app.command("prune")
def prune_command(context: typer.Context) -> None:
    """Delete backups older than BACKUP_RETENTION_DAYS (keeping at least BACKUP_KEEP_MINIMUM)."""
    settings, directory = _options(context)
    removed = prune_backups(
        directory,
        retention_days=settings.backup_retention_days,
        keep_minimum=settings.backup_keep_minimum,
        now=datetime.now(UTC),
    )
    console.print(f"pruned {len(removed)} backup(s)")


def verify_all(directory: Path, *, max_age_hours: float, now: datetime) -> tuple[list[str], list[str]]:
    """(lines to print, problems). Every backup's checksum and archive, and the newest one's age."""
    lines: list[str] = []
    problems: list[str] = []
    backups = list_backups(directory)
    if not backups:
        return lines, [f"no backups in {directory}"]
    for stored in backups:
        problem = checksum_problem(stored) or asyncio.run(archive_problem(stored))
        if problem:
            problems.append(f"{stored.manifest.name}: {problem}")
            lines.append(f"  [FAIL] {stored.manifest.name}: {problem}")
        else:
            lines.append(f"  [ OK ] {_describe(stored)}")
    age = now - backups[0].manifest.created_at
    if age > timedelta(hours=max_age_hours):
        problems.append(
            f"the newest backup is {age.total_seconds() / 3600:.1f} h old (more than {max_age_hours:g} h)"
        )
    return lines, problems


@app.command("verify")
def verify_command(
    context: typer.Context,
    max_age_hours: Annotated[float, typer.Option(help="fail when the newest backup is older")] = 26.0,
) -> None:
    """Check every backup's sha256 and archive, and that the newest is recent; non-zero on any problem."""
    _settings, directory = _options(context)
    try:
        lines, problems = verify_all(directory, max_age_hours=max_age_hours, now=datetime.now(UTC))
    except BackupError as error:
        raise fail(str(error)) from None
    console.print(f"Backup verification: {directory}")
    for line in lines:
        console.print(line, highlight=False)
    if problems:
        for problem in problems:
            errors.print(f"[red]problem:[/red] {problem}")
        raise typer.Exit(1)
    console.print(f"[green]all {len(lines)} backup(s) verified[/green]")


async def _test_restore(
    stored: StoredBackup, url: str, admin_url: str | None, full: bool
) -> tuple[list[str], str]:
    async with scratch_database(url, admin_url=admin_url) as scratch:
        await restore_backup(stored, scratch)
        problems = compare_with_manifest(stored.manifest, await fingerprint_database(scratch))
        if full and not problems:
            from trader.adapters.db.engine import create_engine
            from trader.adapters.integrity import run_integrity_checks

            engine = create_engine(scratch, pool_size=1)
            try:
                report = await run_integrity_checks(engine, database="scratch copy", now=datetime.now(UTC))
            finally:
                await engine.dispose()
            problems += [f"integrity: {finding.check}: {finding.summary}" for finding in report.errors]
        return problems, redacted(scratch)


@app.command("test-restore")
def test_restore_command(
    context: typer.Context,
    full_test: Annotated[
        bool, typer.Option("--full-test", help="also run the integrity checks on the restored copy")
    ] = False,
    name: Annotated[str | None, typer.Option("--backup", help="backup name (default: the newest)")] = None,
    admin_url: Annotated[
        str,
        typer.Option(
            envvar="POSTGRES_ADMIN_URL", help="PostgreSQL superuser URL if the role cannot CREATE DATABASE"
        ),
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
) -> None:
    """Restore a backup into a scratch database and compare every table's rows and checksum."""
    settings, directory = _options(context)
    url = settings.effective_database_url
    try:
        stored = find_backup(directory, name) if name else latest_backup(directory, backend_of(url))
        problem = checksum_problem(stored)
        if problem:
            raise BackupError(problem)
        console.print(f"test restore of {_describe(stored)}")
        problems, scratch = asyncio.run(_test_restore(stored, url, admin_url, full_test))
    except BackupError as error:
        raise fail(f"test restore failed: {error}") from None
    console.print(f"  restored into scratch database {scratch} (dropped afterwards)")
    for table, expected in sorted(stored.manifest.tables.items()):
        console.print(f"  {table:<20} {expected['rows']:>9} rows  sha256 {expected['sha256'][:12]}…")
    if problems:
        for problem in problems:
            errors.print(f"[red]mismatch:[/red] {problem}")
        raise typer.Exit(1)
    console.print(
        f"[green]test restore passed[/green]: {len(stored.manifest.tables)} tables, "
        f"{stored.manifest.total_rows} rows, row counts and checksums identical"
        + ("; integrity checks clean" if full_test else "")
    )


# ------------------------------------------------------------------------------------------------
# restore


def _halt_trading(settings: Settings, reason: str) -> list[str]:
    """Stop trading before touching the data: through the maintenance service, and in the database."""
    notes = []
    headers = {}
    if settings.api_token is not None:
        headers["Authorization"] = f"Bearer {settings.api_token.get_secret_value()}"
    url = f"{settings.url_of('maintenance_service')}/maintenance/emergency-shutdown"
    try:
        response = httpx.post(url, headers=headers, data={"reason": reason}, timeout=20)
        notes.append(f"emergency shutdown via {url}: HTTP {response.status_code}")
    except httpx.HTTPError as error:
        notes.append(
            f"maintenance service not reachable ({type(error).__name__}); halting in the database only"
        )
    try:
        asyncio.run(_record_halt(settings.effective_database_url, reason))
        notes.append("trading state set to HALTED in the database")
    except Exception as error:  # a wiped database has nothing to halt; the restore will bring it back
        notes.append(f"could not record HALTED before the restore ({type(error).__name__}); continuing")
    return notes


async def _record_halt(url: str, reason: str) -> None:
    from trader.adapters.db.engine import create_engine
    from trader.adapters.db.stores.trading_state import TradingStateStore
    from trader.core.risk.state import emergency_shutdown

    engine = create_engine(url, pool_size=1)
    try:
        store = TradingStateStore(engine)
        current = await store.current_state()
        await store.record(emergency_shutdown(current, reason, "trader restore", datetime.now(UTC)))
    finally:
        await engine.dispose()


def _safety_copy(settings: Settings, directory: Path) -> str:
    try:
        stored = asyncio.run(create_backup(settings.effective_database_url, directory / PRE_RESTORE_DIR))
    except Exception as error:  # nothing usable to save (wiped or unreadable database)
        return f"no safety copy of the current database ({type(error).__name__}: {error})"
    return f"safety copy of the current database: {stored.archive_path}"


@restore_app.callback()
def restore(
    latest: Annotated[bool, typer.Option("--latest", help="restore the newest backup")] = False,
    name: Annotated[str | None, typer.Option("--backup", help="restore this backup (name or path)")] = None,
    emergency: Annotated[
        bool,
        typer.Option("--emergency", help="halt trading first and leave it halted after the restore"),
    ] = False,
    safety_copy: Annotated[
        bool, typer.Option(help="back up the current database to BACKUP_DIR/pre_restore first")
    ] = True,
    environment: EnvironmentOption = None,
    directory: DirectoryOption = None,
) -> None:
    """Restore the database from a backup, then compare every table with the backup's manifest."""
    if latest == (name is not None):
        raise fail("give exactly one of --latest or --backup NAME", 2)
    settings = settings_for(environment)
    source = _directory(settings, directory)
    url = settings.effective_database_url
    try:
        stored = latest_backup(source, backend_of(url)) if latest else find_backup(source, name or "")
        problem = checksum_problem(stored)
        if problem:
            raise BackupError(f"refusing to restore {stored.manifest.name}: {problem}")
    except BackupError as error:
        raise fail(str(error)) from None
    console.print(f"restoring {_describe(stored)}")
    console.print(f"  into {redacted(url)}")
    reason = f"emergency restore of backup {stored.manifest.name}"
    if emergency:
        for note in _halt_trading(settings, reason):
            console.print(f"  {note}")
    if safety_copy:
        console.print(f"  {_safety_copy(settings, source)}")
    try:
        with step_progress() as progress:
            asyncio.run(restore_backup(stored, url, progress))
            # Restored under a running system: the rows its scheduler and audit appended since
            # the restore are not the backup's, so those tables are checked on the backup's rows.
            backed_up = {name: int(table["rows"]) for name, table in stored.manifest.tables.items()}
            problems = compare_with_manifest(
                stored.manifest, asyncio.run(fingerprint_database(url, progress, backed_up))
            )
    except BackupError as error:
        raise fail(f"restore failed: {error}") from None
    if problems:
        for problem in problems:
            errors.print(f"[red]verification:[/red] {problem}")
        raise fail("restored data does not match the backup")
    console.print(
        f"[green]restore verified[/green]: {len(stored.manifest.tables)} tables, "
        f"{stored.manifest.total_rows} rows, row counts and checksums match the backup"
    )
    if emergency:
        asyncio.run(_record_halt(url, reason + "; resume with POST /maintenance/resume after checking"))
        console.print(
            "  trading stays HALTED; check with `python scripts/data/validate_integrity.py --full`, then "
            "POST /maintenance/resume"
        )
    _report_revision(stored, url)


def _report_revision(stored: StoredBackup, url: str) -> None:
    from trader.adapters.db.migrate import head_revision

    head = head_revision()
    if stored.manifest.schema_revision != head:
        console.print(
            f"  [yellow]note[/yellow]: the backup's schema is {stored.manifest.schema_revision}, this code "
            f"expects {head}: run `trader migrate` (scripts/deployment/migrate.sh) before starting services"
        )


def manifest_summary(stored: StoredBackup) -> dict[str, Any]:
    return stored.manifest.as_dict() | {"path": str(stored.archive_path)}
