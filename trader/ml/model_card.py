"""A model's card: the registered version with its validation figures, its live periods and every
step of its life. One reader for `trader model show`, `GET /models/{name}` and the dashboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.model_lifecycle import ModelEventStore, ModelPeriodStore
from trader.adapters.db.stores.models import ModelRegistryStore, ModelVersion


async def _chosen(registry: ModelRegistryStore, name: str, version: int | None) -> ModelVersion:
    if version is not None:
        return await registry.get(name, version)
    versions = await registry.list(name)
    if not versions:
        raise LookupError(f"no model {name!r}; train one with `trader model train`")
    return next((item for item in versions if item.status == "active"), versions[0])


def _live_summary(periods: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for role in ("shadow", "champion"):
        settled = [
            period["excess"] for period in periods if period["role"] == role and period["excess"] is not None
        ]
        summary[role] = {
            "periods": sum(1 for period in periods if period["role"] == role),
            "settled": len(settled),
            "mean_excess": sum(settled) / len(settled) if settled else None,
        }
    return summary


async def model_card(engine: AsyncEngine, name: str, version: int | None = None) -> dict[str, Any]:
    registry = ModelRegistryStore(engine)
    chosen = await _chosen(registry, name, version)
    periods = [period.as_dict() for period in await ModelPeriodStore(engine).list(name, chosen.version)]
    events = [event.as_dict() for event in await ModelEventStore(engine).list(name, chosen.version)]
    versions = await registry.list(name)
    return {
        "version": chosen.as_dict(),
        "versions": [{"version": item.version, "status": item.status} for item in versions],
        "live": _live_summary(periods),
        "periods": periods,
        "events": events,
    }
