"""Retrain on stored bars: purged walk-forward, a registered candidate, promotion only when it is better.

One use case behind `POST /models/train`, the weekly scheduler job and `trader model train`:
load the newest stored bars of each symbol, train the gradient-boosting classifier with purged
walk-forward (`train_model`), write the artifact, register the candidate with its out-of-sample
metrics, and promote it when `decide_promotion` says it beats the active model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from threadpoolctl import threadpool_limits

from trader.adapters.db.stores.market_data import MarketDataStore, WatchlistStore
from trader.adapters.db.stores.models import ModelRegistryStore, ModelVersion
from trader.core.strategies.ml_features import FEATURE_WARMUP_BARS
from trader.core.strategies.series import BarSeries
from trader.ml.artifacts import artifact_path, save_model
from trader.ml.registry import PromotionDecision, decide_promotion
from trader.ml.training import TrainingConfig, TrainingResult, train_model

DEFAULT_MODEL_NAME = "gradient_boosting"
ProgressCallback = Callable[[str], None]


def models_directory(data_dir: Path) -> Path:
    """Where artifacts live (the strategy engine loads them from the same place)."""
    return data_dir / "models"


async def default_symbols(engine: AsyncEngine, configured_watchlist: str) -> tuple[str, ...]:
    """The collector's watchlist (the table once seeded, else DATA_WATCHLIST)."""
    stored = await WatchlistStore(engine).symbols()
    if stored:
        return tuple(stored)
    return tuple(symbol.strip().upper() for symbol in configured_watchlist.split(",") if symbol.strip())


@dataclass(frozen=True, slots=True)
class TrainingRequest:
    symbols: tuple[str, ...]
    name: str = DEFAULT_MODEL_NAME
    max_bars: int = 2500
    config: TrainingConfig = field(default_factory=TrainingConfig)
    promote: bool = True
    metric: str = "auc"
    min_improvement: float = 0.0

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("training needs at least one symbol")
        if self.max_bars <= FEATURE_WARMUP_BARS + self.config.horizon:
            raise ValueError(
                f"max_bars must exceed the feature warm-up ({FEATURE_WARMUP_BARS}) plus the horizon"
            )
        decide_promotion({}, None, metric=self.metric)  # an unknown metric is refused before training


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    candidate: ModelVersion
    decision: PromotionDecision
    promoted: bool
    symbols_used: list[str]
    symbols_skipped: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.as_dict(),
            "promoted": self.promoted,
            "promotion_reason": self.decision.reason,
            "symbols_used": self.symbols_used,
            "symbols_skipped": self.symbols_skipped,
        }


def scores(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Registry metrics as floats: JSON stores an undefined metric as null, the rule wants NaN."""
    return {
        key: (math.nan if value is None else float(value))
        for key, value in metrics.items()
        if value is None or isinstance(value, int | float)
    }


async def load_training_series(
    engine: AsyncEngine, symbols: Sequence[str], max_bars: int, horizon: int
) -> tuple[list[BarSeries], dict[str, str]]:
    """The newest `max_bars` stored bars of each symbol; symbols too short to label are skipped."""
    store = MarketDataStore(engine)
    series: list[BarSeries] = []
    skipped: dict[str, str] = {}
    needed = FEATURE_WARMUP_BARS + horizon + 1
    for symbol in symbols:
        bars = await store.bars(symbol, limit=max_bars, newest_first=True)
        if len(bars) < needed:
            skipped[symbol] = f"{len(bars)} stored bars, training needs at least {needed}"
            continue
        bars.reverse()
        series.append(BarSeries.from_bars(bars))
    return series, skipped


def _train_single_threaded(series: Sequence[BarSeries], config: TrainingConfig, name: str) -> TrainingResult:
    # Inside a service, OpenMP's spinning worker threads fight the event loop for the cores and
    # training slows down several-fold; one thread keeps it at the standalone speed on small data.
    with threadpool_limits(limits=1, user_api="openmp"):
        return train_model(series, config, name=name)


async def decide_against_active(
    registry: ModelRegistryStore, candidate: ModelVersion, metric: str, min_improvement: float
) -> PromotionDecision:
    active = await registry.active(candidate.name)
    if active is not None and active.version == candidate.version:
        return PromotionDecision(False, f"version {candidate.version} is already the active model")
    return decide_promotion(
        scores(candidate.metrics),
        scores(active.metrics) if active is not None else None,
        metric=metric,
        min_improvement=min_improvement,
    )


async def train_candidate(
    engine: AsyncEngine,
    models_dir: Path,
    request: TrainingRequest,
    now: Callable[[], datetime],
    progress: ProgressCallback | None = None,
) -> TrainingOutcome:
    """Train, register the candidate, promote it if it beats the active model (and `request.promote`)."""

    def say(step: str) -> None:
        if progress is not None:
            progress(step)

    say("loading bars")
    series, skipped = await load_training_series(
        engine, request.symbols, request.max_bars, request.config.horizon
    )
    if not series:
        raise ValueError(
            "no symbol has enough stored bars to train on: "
            + "; ".join(f"{symbol}: {why}" for symbol, why in skipped.items())
        )
    say(f"training on {len(series)} symbol(s) with {request.config.folds}-fold purged walk-forward")
    result = await asyncio.to_thread(_train_single_threaded, series, request.config, request.name)
    registry = ModelRegistryStore(engine)
    version = await registry.next_version(request.name)
    model = dataclasses.replace(result.model, version=version)
    path = artifact_path(models_dir, request.name, version)
    say(f"writing artifact {path}")
    digest = await asyncio.to_thread(save_model, model, path)
    metrics: dict[str, Any] = {**result.metrics, "horizon": float(request.config.horizon)}
    candidate = await registry.register(
        ModelVersion(
            name=request.name,
            version=version,
            status="candidate",
            training_start=result.training_start,
            training_end=result.training_end,
            features=list(model.feature_names),
            metrics=metrics,
            artifact_path=str(path),
            artifact_sha256=digest,
        ),
        now(),
    )
    say("comparing with the active model")
    decision = await decide_against_active(registry, candidate, request.metric, request.min_improvement)
    promoted = request.promote and decision.promote
    if promoted:
        await registry.promote(request.name, version, now())
        candidate = await registry.get(request.name, version)
    return TrainingOutcome(
        candidate=candidate,
        decision=decision,
        promoted=promoted,
        symbols_used=[item.symbol for item in series],
        symbols_skipped=skipped,
    )


async def promote_version(
    engine: AsyncEngine,
    name: str,
    version: int,
    now: datetime,
    *,
    metric: str,
    min_improvement: float,
    force: bool = False,
) -> tuple[bool, PromotionDecision]:
    """Promote a registered version when it beats the active model, or regardless with `force`."""
    registry = ModelRegistryStore(engine)
    candidate = await registry.get(name, version)
    decision = await decide_against_active(registry, candidate, metric, min_improvement)
    if candidate.status == "active":
        return False, decision
    if decision.promote or force:
        await registry.promote(name, version, now)
        return True, decision
    return False, decision
