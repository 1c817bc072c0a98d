"""Backups on disk: archive + manifest pairs, listing, checksum verification and retention."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MANIFEST_SUFFIX = ".manifest.json"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says what to do."""


@dataclass(frozen=True, slots=True)
class BackupManifest:
    name: str
    created_at: datetime
    backend: str  # "sqlite" | "postgresql"
    database: str  # redacted URL
    archive: str  # file name beside the manifest
    archive_sha256: str
    archive_bytes: int
    schema_revision: str | None
    trader_version: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "backend": self.backend,
            "database": self.database,
            "archive": self.archive,
            "archive_sha256": self.archive_sha256,
            "archive_bytes": self.archive_bytes,
            "schema_revision": self.schema_revision,
            "trader_version": self.trader_version,
            "tables": self.tables,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackupManifest:
        return cls(
            name=data["name"],
            created_at=datetime.fromisoformat(data["created_at"]).astimezone(UTC),
            backend=data["backend"],
            database=data["database"],
            archive=data["archive"],
            archive_sha256=data["archive_sha256"],
            archive_bytes=int(data["archive_bytes"]),
            schema_revision=data.get("schema_revision"),
            trader_version=data.get("trader_version", "unknown"),
            tables=dict(data.get("tables", {})),
            format_version=int(data.get("format_version", FORMAT_VERSION)),
        )

    @property
    def total_rows(self) -> int:
        return sum(int(table["rows"]) for table in self.tables.values())


@dataclass(frozen=True, slots=True)
class StoredBackup:
    manifest: BackupManifest
    manifest_path: Path

    @property
    def archive_path(self) -> Path:
        return self.manifest_path.parent / self.manifest.archive


def backup_name(created_at: datetime) -> str:
    return f"trading_system_{created_at.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, manifest: BackupManifest) -> Path:
    path = directory / f"{manifest.name}{MANIFEST_SUFFIX}"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(manifest.as_dict(), indent=2, sort_keys=True))
    # The manifest appears last and atomically: a backup without one is an unfinished backup.
    temporary.replace(path)
    return path


def list_backups(directory: Path) -> list[StoredBackup]:
    """Backups in `directory`, newest first. Unreadable manifests raise: a silent skip hides damage."""
    if not directory.exists():
        return []
    found = []
    for path in directory.glob(f"*{MANIFEST_SUFFIX}"):
        try:
            manifest = BackupManifest.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as error:
            raise BackupError(f"unreadable backup manifest {path}: {error}") from error
        found.append(StoredBackup(manifest, path))
    return sorted(found, key=lambda backup: backup.manifest.created_at, reverse=True)


def latest_backup(directory: Path, backend: str | None = None) -> StoredBackup:
    backups = [b for b in list_backups(directory) if backend is None or b.manifest.backend == backend]
    if not backups:
        which = f"{backend} " if backend else ""
        raise BackupError(f"no {which}backup in {directory}; run `trader backup` (scripts/backup/backup.sh)")
    return backups[0]


def find_backup(directory: Path, name_or_path: str) -> StoredBackup:
    for backup in list_backups(directory):
        if name_or_path in (backup.manifest.name, str(backup.manifest_path), str(backup.archive_path)):
            return backup
    candidate = Path(name_or_path)
    if candidate.name.endswith(MANIFEST_SUFFIX) and candidate.exists():
        return StoredBackup(BackupManifest.from_dict(json.loads(candidate.read_text())), candidate)
    raise BackupError(f"no backup named {name_or_path!r} in {directory}")


def checksum_problem(backup: StoredBackup) -> str | None:
    """None when the archive is present and matches its manifest, else what is wrong."""
    archive = backup.archive_path
    if not archive.exists():
        return f"archive {archive.name} is missing"
    size = archive.stat().st_size
    if size != backup.manifest.archive_bytes:
        return f"archive {archive.name} is {size} bytes, the manifest says {backup.manifest.archive_bytes}"
    actual = sha256_of(archive)
    if actual != backup.manifest.archive_sha256:
        return f"archive {archive.name} sha256 {actual[:12]}… does not match the manifest"
    return None


def prune_backups(
    directory: Path, *, retention_days: int, keep_minimum: int, now: datetime
) -> list[StoredBackup]:
    """Delete backups older than the retention, never leaving fewer than `keep_minimum`."""
    backups = list_backups(directory)
    cutoff = now - timedelta(days=retention_days)
    removed = []
    for index, backup in enumerate(backups):
        if index < keep_minimum or backup.manifest.created_at >= cutoff:
            continue
        backup.archive_path.unlink(missing_ok=True)
        backup.manifest_path.unlink(missing_ok=True)
        removed.append(backup)
    return removed
