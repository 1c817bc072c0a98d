"""Strategy configurations in `strategy_configs`: which strategy runs on which symbols, and if enabled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import strategy_configs


class StrategyConfigExistsError(ValueError):
    pass


class StrategyConfigNotFoundError(LookupError):
    pass


# A configuration whose symbols are ["*"] trades the watchlist (the screener's universe) and keeps
# managing what it still holds until flat.
FOLLOWS_WATCHLIST = "*"


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    name: str
    strategy_type: str
    parameters: dict[str, Any]
    symbols: list[str]
    timeframe: str
    enabled: bool
    updated_by: str
    updated_at: datetime | None = None
    created_at: datetime | None = None
    id: int | None = field(default=None, compare=False)


def _config(row: RowMapping) -> StrategyConfig:
    return StrategyConfig(
        id=row["id"],
        name=row["name"],
        strategy_type=row["strategy_type"],
        parameters=dict(row["parameters"] or {}),
        symbols=list(row["symbols"] or []),
        timeframe=row["timeframe"],
        enabled=bool(row["enabled"]),
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
        created_at=row["created_at"],
    )


class StrategyConfigStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(self, *, enabled_only: bool = False) -> list[StrategyConfig]:
        query = select(strategy_configs).order_by(strategy_configs.c.name)
        if enabled_only:
            query = query.where(strategy_configs.c.enabled.is_(True))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_config(row) for row in rows]

    async def get(self, name: str) -> StrategyConfig:
        async with self._engine.connect() as connection:
            row = (
                (await connection.execute(select(strategy_configs).where(strategy_configs.c.name == name)))
                .mappings()
                .first()
            )
        if row is None:
            raise StrategyConfigNotFoundError(f"no strategy configuration named {name!r}")
        return _config(row)

    async def create(self, config: StrategyConfig, at: datetime) -> StrategyConfig:
        values = {
            "name": config.name,
            "strategy_type": config.strategy_type,
            "parameters": config.parameters,
            "symbols": list(config.symbols),
            "timeframe": config.timeframe,
            "enabled": config.enabled,
            "updated_by": config.updated_by,
            "created_at": at,
            "updated_at": at,
        }
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(strategy_configs).values(values))
        except IntegrityError:
            raise StrategyConfigExistsError(
                f"a strategy configuration named {config.name!r} exists"
            ) from None
        return await self.get(config.name)

    async def update(
        self, name: str, changes: dict[str, Any], updated_by: str, at: datetime
    ) -> StrategyConfig:
        allowed = {"strategy_type", "parameters", "symbols", "timeframe", "enabled"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(strategy_configs)
                .where(strategy_configs.c.name == name)
                .values(**changes, updated_by=updated_by, updated_at=at)
            )
        if result.rowcount == 0:
            raise StrategyConfigNotFoundError(f"no strategy configuration named {name!r}")
        return await self.get(name)

    async def seed(self, configs: Sequence[StrategyConfig], at: datetime) -> int:
        """Insert `configs` only into an empty table, so an operator's edits and deletions stand."""
        async with self._engine.begin() as connection:
            count = (
                await connection.execute(select(func.count()).select_from(strategy_configs))
            ).scalar_one()
            if count:
                return 0
            for config in configs:
                await connection.execute(
                    insert(strategy_configs).values(
                        name=config.name,
                        strategy_type=config.strategy_type,
                        parameters=config.parameters,
                        symbols=list(config.symbols),
                        timeframe=config.timeframe,
                        enabled=config.enabled,
                        updated_by=config.updated_by,
                        created_at=at,
                        updated_at=at,
                    )
                )
        return len(configs)
