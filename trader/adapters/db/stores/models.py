"""The model registry in `model_registry`: versions, training windows, features, out-of-sample
metrics, artifact file and digest, and status (candidate / active / retired; one active per name)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import model_registry


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    status: str
    training_start: datetime
    training_end: datetime
    features: list[str]
    metrics: dict[str, Any]
    artifact_path: str
    artifact_sha256: str
    created_at: datetime | None = None
    promoted_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "training_start": self.training_start.isoformat(),
            "training_end": self.training_end.isoformat(),
            "features": self.features,
            "metrics": self.metrics,
            "artifact_path": self.artifact_path,
            "artifact_sha256": self.artifact_sha256,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "promoted_at": self.promoted_at.isoformat() if self.promoted_at else None,
        }


def _version(row: RowMapping) -> ModelVersion:
    return ModelVersion(
        name=row["name"],
        version=row["version"],
        status=row["status"],
        training_start=row["training_start"],
        training_end=row["training_end"],
        features=list(row["features"]),
        metrics=dict(row["metrics"]),
        artifact_path=row["artifact_path"],
        artifact_sha256=row["artifact_sha256"],
        created_at=row["created_at"],
        promoted_at=row["promoted_at"],
    )


def _json_safe(metrics: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN; an undefined metric is stored as null.
    return {
        key: (None if isinstance(value, float) and value != value else value)
        for key, value in metrics.items()
    }


class ModelRegistryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def next_version(self, name: str) -> int:
        async with self._engine.connect() as connection:
            current = (
                await connection.execute(
                    select(func.max(model_registry.c.version)).where(model_registry.c.name == name)
                )
            ).scalar_one()
        return int(current or 0) + 1

    async def register(self, model: ModelVersion, at: datetime) -> ModelVersion:
        """Record a new candidate (its `status` is ignored: every new version starts as a candidate)."""
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(model_registry).values(
                    name=model.name,
                    version=model.version,
                    status="candidate",
                    training_start=model.training_start,
                    training_end=model.training_end,
                    features=list(model.features),
                    metrics=_json_safe(model.metrics),
                    artifact_path=model.artifact_path,
                    artifact_sha256=model.artifact_sha256,
                    created_at=at,
                )
            )
        return await self.get(model.name, model.version)

    async def get(self, name: str, version: int) -> ModelVersion:
        async with self._engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(model_registry).where(
                            and_(model_registry.c.name == name, model_registry.c.version == version)
                        )
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise LookupError(f"no model {name!r} version {version}")
        return _version(row)

    async def active(self, name: str) -> ModelVersion | None:
        async with self._engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(model_registry).where(
                            and_(model_registry.c.name == name, model_registry.c.status == "active")
                        )
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _version(row)

    async def list(self, name: str | None = None) -> list[ModelVersion]:
        query = select(model_registry).order_by(model_registry.c.name, model_registry.c.version.desc())
        if name is not None:
            query = query.where(model_registry.c.name == name)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_version(row) for row in rows]

    async def promote(self, name: str, version: int, at: datetime) -> None:
        """Make `version` the active model and retire the one it replaces, in one transaction."""
        async with self._engine.begin() as connection:
            await connection.execute(
                update(model_registry)
                .where(and_(model_registry.c.name == name, model_registry.c.status == "active"))
                .values(status="retired")
            )
            result = await connection.execute(
                update(model_registry)
                .where(and_(model_registry.c.name == name, model_registry.c.version == version))
                .values(status="active", promoted_at=at)
            )
            if result.rowcount != 1:
                raise LookupError(f"no model {name!r} version {version}")

    async def retire(self, name: str, version: int) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(model_registry)
                .where(and_(model_registry.c.name == name, model_registry.c.version == version))
                .values(status="retired")
            )
