"""A model's life after training: `model_events` (every step with its figures) and `model_periods`
(the live picks of each rebalance, settled with their net results once the horizon has passed)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.models import json_safe
from trader.adapters.db.tables import model_events, model_periods


@dataclass(frozen=True, slots=True)
class ModelEvent:
    name: str
    version: int
    event: str
    at: datetime
    reason: str
    figures: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "event": self.event,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "figures": self.figures,
        }


@dataclass(frozen=True, slots=True)
class ModelPeriod:
    name: str
    version: int
    role: str  # champion (traded) or shadow (recorded only)
    session_at: datetime
    picks: list[str]
    universe: int
    pick_return: float | None = None
    universe_return: float | None = None
    settled_at: datetime | None = None
    id: int | None = None

    @property
    def excess(self) -> float | None:
        if self.pick_return is None or self.universe_return is None:
            return None
        return self.pick_return - self.universe_return

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "session_at": self.session_at.isoformat(),
            "picks": self.picks,
            "universe": self.universe,
            "pick_return": self.pick_return,
            "universe_return": self.universe_return,
            "excess": self.excess,
            "settled_at": self.settled_at.isoformat() if self.settled_at else None,
        }


class ModelEventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, event: ModelEvent) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(model_events).values(
                    name=event.name,
                    version=event.version,
                    event=event.event,
                    at=event.at,
                    reason=event.reason,
                    figures=json_safe(event.figures),
                )
            )

    async def list(self, name: str, version: int | None = None, limit: int = 200) -> list[ModelEvent]:
        query = select(model_events).where(model_events.c.name == name)
        if version is not None:
            query = query.where(model_events.c.version == version)
        query = query.order_by(model_events.c.at.desc(), model_events.c.id.desc()).limit(limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            ModelEvent(
                row["name"], row["version"], row["event"], row["at"], row["reason"], dict(row["figures"])
            )
            for row in rows
        ]


def _period(row: Any) -> ModelPeriod:
    return ModelPeriod(
        name=row["name"],
        version=row["version"],
        role=row["role"],
        session_at=row["session_at"],
        picks=list(row["picks"]),
        universe=row["universe"],
        pick_return=row["pick_return"],
        universe_return=row["universe_return"],
        settled_at=row["settled_at"],
        id=row["id"],
    )


class ModelPeriodStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, period: ModelPeriod) -> bool:
        """Store a rebalance's picks; False when that session was already recorded (a redelivery)."""
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    insert(model_periods).values(
                        name=period.name,
                        version=period.version,
                        role=period.role,
                        session_at=period.session_at,
                        picks=list(period.picks),
                        universe=period.universe,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def list(self, name: str, version: int, *, settled_only: bool = False) -> list[ModelPeriod]:
        query = select(model_periods).where(
            and_(model_periods.c.name == name, model_periods.c.version == version)
        )
        if settled_only:
            query = query.where(model_periods.c.settled_at.is_not(None))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.order_by(model_periods.c.session_at))).mappings().all()
        return [_period(row) for row in rows]

    async def unsettled(self, names: Sequence[str]) -> builtins.list[ModelPeriod]:
        query = (
            select(model_periods)
            .where(and_(model_periods.c.name.in_(list(names)), model_periods.c.settled_at.is_(None)))
            .order_by(model_periods.c.session_at)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_period(row) for row in rows]

    async def settle(self, period_id: int, pick_return: float, universe_return: float, at: datetime) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(model_periods)
                .where(model_periods.c.id == period_id)
                .values(pick_return=pick_return, universe_return=universe_return, settled_at=at)
            )
