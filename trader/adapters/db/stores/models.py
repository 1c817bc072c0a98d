"""The model registry in `model_registry`: versions, training windows, features, out-of-sample
metrics, artifact file and digest, the horizon and validation card of ranking models, and status
(candidate / shadow / active / retired / refused / rolled_back; one active per name)."""

from __future__ import annotations

import builtins
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
    horizon: int | None = None
    kind: str = "classifier"
    card: dict[str, Any] | None = None

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
            "horizon": self.horizon,
            "kind": self.kind,
            "card": self.card,
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
        horizon=row["horizon"],
        kind=row["kind"],
        card=None if row["card"] is None else dict(row["card"]),
    )


def json_safe(value: Any) -> Any:
    # JSON has no NaN or infinity; an undefined figure is stored as null.
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


class ModelRegistryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

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
                    metrics=json_safe(model.metrics),
                    artifact_path=model.artifact_path,
                    artifact_sha256=model.artifact_sha256,
                    created_at=at,
                    horizon=model.horizon,
                    kind=model.kind,
                    card=None if model.card is None else json_safe(model.card),
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

    async def set_status(self, name: str, version: int, status: str) -> None:
        """Move a version to `status` (shadow, refused, rolled_back, retired); not to active: use promote."""
        if status == "active":
            raise ValueError("a version becomes active only through promote()")
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(model_registry)
                .where(and_(model_registry.c.name == name, model_registry.c.version == version))
                .values(status=status)
            )
            if result.rowcount != 1:
                raise LookupError(f"no model {name!r} version {version}")

    async def with_status(self, status: str) -> builtins.list[ModelVersion]:
        async with self._engine.connect() as connection:
            rows = (
                (await connection.execute(select(model_registry).where(model_registry.c.status == status)))
                .mappings()
                .all()
            )
        return [_version(row) for row in rows]

    async def previous_champion(self, name: str, before: int) -> ModelVersion | None:
        """The retired version of `name` promoted most recently before version `before` was."""
        query = (
            select(model_registry)
            .where(
                and_(
                    model_registry.c.name == name,
                    model_registry.c.status == "retired",
                    model_registry.c.promoted_at.is_not(None),
                    model_registry.c.version != before,
                )
            )
            .order_by(model_registry.c.promoted_at.desc())
            .limit(1)
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _version(row)

    async def retire(self, name: str, version: int) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(model_registry)
                .where(and_(model_registry.c.name == name, model_registry.c.version == version))
                .values(status="retired")
            )
