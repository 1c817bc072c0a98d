"""Train a ranking candidate on a universe, put it through the gate, register it with its card.

One use case behind `trader model train --kind ranking` and `POST /models/train` with
`"kind": "ranking"`: build the panel (a symbol set with gaps is refused when the symbols were
named, or the gapped symbols are left out, by name, when the universe is a whole data set),
refuse a horizon other than the champion's (a model's horizon is part of its identity), train
with CPCV and the search, decide the gate, and register the version as `shadow` (passed: its
signals will be recorded, not traded) or `refused`, each step recorded in `model_events` and
notified.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from threadpoolctl import threadpool_limits

from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.stores.model_lifecycle import ModelEvent, ModelEventStore
from trader.adapters.db.stores.models import ModelRegistryStore, ModelVersion
from trader.core.ports import Notification
from trader.core.strategies.series import BarSeries, from_epoch_nanoseconds
from trader.ml.artifacts import artifact_path, save_ranking_model
from trader.ml.estimators import ModelParameters
from trader.ml.gate import GateDecision, GateThresholds, decide_gate
from trader.ml.panel import Panel, build_panel
from trader.ml.ranking_model import RANKING_KIND
from trader.ml.ranking_training import (
    InsufficientDataError,
    RankingConfig,
    RankingResult,
    train_ranking_model,
)

log = logging.getLogger("trader.ml")
DEFAULT_RANKING_NAME = "cross_sectional"
Notify = Callable[[Notification], Awaitable[Any]]
Progress = Callable[[str], None]


class ModelIdentityError(ValueError):
    """A candidate that cannot share its name with the registered model (another horizon or kind)."""


@dataclass(frozen=True, slots=True)
class RankingRequest:
    name: str = DEFAULT_RANKING_NAME
    config: RankingConfig = field(default_factory=RankingConfig)
    thresholds: GateThresholds = field(default_factory=GateThresholds)
    symbols_named: bool = True  # named symbols with gaps refuse training; a whole data set drops them


@dataclass(frozen=True, slots=True)
class RankingOutcome:
    version: ModelVersion
    decision: GateDecision
    symbols_used: list[str]
    symbols_left_out: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.version.as_dict(),
            "status": self.version.status,
            "gate": self.decision.as_dict(),
            "promotion_reason": self.decision.reason,
            "promoted": False,  # a gated candidate shadows first; promotion comes after the shadow
            "symbols_used": self.symbols_used,
            "symbols_left_out": self.symbols_left_out,
        }


async def load_universe(
    engine: AsyncEngine, symbols: Sequence[str], before: datetime, sessions: int
) -> list[BarSeries]:
    """The newest `sessions` stored bars of each symbol before `before` (symbols with none left out)."""
    found = await MarketDataStore(engine).window_series([(symbol, before, sessions) for symbol in symbols])
    return [series for series in found if len(series)]


def universe_panel(
    series: Sequence[BarSeries], sectors: Mapping[str, str], *, symbols_named: bool
) -> tuple[Panel, dict[str, str]]:
    """The panel to train on and the symbols left out (with why); gaps refuse named symbols."""
    if not series:
        raise InsufficientDataError("no stored bars for any of the symbols; collect or import bars first")
    panel = build_panel(series, sectors)
    gaps = panel.gaps()
    if gaps and symbols_named:
        raise InsufficientDataError(
            "training needs every session between a symbol's first and last bar, and "
            + "; ".join(gap.describe() for gap in gaps)
            + ": backfill the missing bars or leave those symbols out"
        )
    left_out = {gap.symbol: gap.describe() for gap in gaps}
    return (panel.without(list(left_out)) if left_out else panel), left_out


async def check_identity(registry: ModelRegistryStore, name: str, horizon: int) -> ModelParameters | None:
    """The champion's parameters (to refit on the candidate's splits), after checking the candidate
    may carry this name: same kind, same horizon as every version registered under it."""
    versions = await registry.list(name)
    for version in versions:
        if version.kind != RANKING_KIND:
            raise ModelIdentityError(f"model {name!r} is a {version.kind} model; choose another name")
        if version.horizon is not None and version.horizon != horizon:
            raise ModelIdentityError(
                f"model {name!r} has horizon {version.horizon}; a model's horizon is part of its identity, "
                f"so a horizon-{horizon} model needs another name (e.g. {name}_h{horizon})"
            )
    champion = next((version for version in versions if version.status == "active"), None)
    if champion is None or champion.card is None:
        return None
    return ModelParameters.from_dict(champion.card.get("parameters", {}))


def _train_quietly(
    panel: Panel, request: RankingRequest, champion: ModelParameters | None, progress: Progress | None
) -> RankingResult:
    # One thread: inside a service the event loop keeps a core, and a CLI shares the machine.
    with threadpool_limits(limits=1):
        return train_ranking_model(
            panel, request.config, name=request.name, champion_parameters=champion, progress=progress
        )


async def train_ranking_candidate(
    engine: AsyncEngine,
    models_dir: Path,
    series: Sequence[BarSeries],
    sectors: Mapping[str, str],
    request: RankingRequest,
    now: Callable[[], datetime],
    *,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> RankingOutcome:
    registry = ModelRegistryStore(engine)
    champion = await check_identity(registry, request.name, request.config.horizon)
    panel, left_out = universe_panel(series, sectors, symbols_named=request.symbols_named)
    if progress is not None:
        progress(f"training on {len(panel.symbols)} symbols x {panel.shape[0]} sessions")
    result = await asyncio.to_thread(_train_quietly, panel, request, champion, progress)
    decision = decide_gate(result.figures, request.thresholds)
    version_number = await _register(registry, models_dir, panel, result, decision, left_out, request, now)
    status = "shadow" if decision.passed else "refused"
    if decision.passed:
        await _supersede_shadows(registry, request.name, version_number, now, notify)
    await registry.set_status(request.name, version_number, status)
    await record_step(
        engine,
        request.name,
        version_number,
        "trained",
        f"{len(panel.symbols)} symbols, {panel.shape[0]} sessions",
        result.card["figures"],
        now,
        notify,
    )
    await record_step(
        engine,
        request.name,
        version_number,
        "gate_passed" if decision.passed else "gate_refused",
        decision.reason + ("; shadowing: signals recorded, not traded" if decision.passed else ""),
        decision.as_dict(),
        now,
        notify,
    )
    return RankingOutcome(
        version=await registry.get(request.name, version_number),
        decision=decision,
        symbols_used=list(panel.symbols),
        symbols_left_out=left_out,
    )


async def _register(
    registry: ModelRegistryStore,
    models_dir: Path,
    panel: Panel,
    result: RankingResult,
    decision: GateDecision,
    left_out: dict[str, str],
    request: RankingRequest,
    now: Callable[[], datetime],
) -> int:
    """Write the artifact and register the version (as a candidate, with its card); its number."""
    version_number = await registry.next_version(request.name)
    model = dataclasses.replace(result.model, version=version_number)
    path = artifact_path(models_dir, request.name, version_number)
    digest = await asyncio.to_thread(save_ranking_model, model, path)
    figures = result.card["figures"]
    await registry.register(
        ModelVersion(
            name=request.name,
            version=version_number,
            status="candidate",
            training_start=from_epoch_nanoseconds(int(panel.sessions_ns[0])),
            training_end=from_epoch_nanoseconds(int(panel.sessions_ns[-1])),
            features=list(model.feature_names),
            metrics={key: value for key, value in figures.items() if not isinstance(value, list)},
            artifact_path=str(path),
            artifact_sha256=digest,
            horizon=request.config.horizon,
            kind=RANKING_KIND,
            card={
                **result.card,
                "gate": decision.as_dict(),
                "symbols_left_out": left_out,
                "universe": list(panel.symbols),
            },
        ),
        now(),
    )
    return version_number


async def _supersede_shadows(
    registry: ModelRegistryStore, name: str, version: int, now: Callable[[], datetime], notify: Notify | None
) -> None:
    for shadow in await registry.with_status("shadow"):
        if shadow.name == name and shadow.version != version:
            await registry.set_status(name, shadow.version, "refused")
            await record_step(
                registry.engine,
                name,
                shadow.version,
                "superseded",
                f"superseded by v{version}",
                {},
                now,
                notify,
            )


async def record_step(
    engine: AsyncEngine,
    name: str,
    version: int,
    event: str,
    reason: str,
    figures: dict[str, Any],
    now: Callable[[], datetime],
    notify: Notify | None,
) -> None:
    """Record a lifecycle step with its figures, log it, and notify the operator."""
    at = now()
    await ModelEventStore(engine).record(ModelEvent(name, version, event, at, reason, figures))
    log.info("model %s v%d %s: %s", name, version, event, reason)
    if notify is None:
        return
    severity = "warning" if event in ("gate_refused", "shadow_refused", "rolled_back") else "info"
    await notify(
        Notification(
            kind=f"model_{event}",
            title=f"model {name} v{version}: {event.replace('_', ' ')}",
            message=reason,
            severity=severity,
            occurred_at=at,
            details=(("model", name), ("version", str(version))),
        )
    )
