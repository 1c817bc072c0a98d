"""Model training as a job: `POST /models/train` (202 + status URL) and `GET /models/train/{id}`.

One training per model name at a time; a second request while one runs is a 409 that points at
the running job, so the weekly scheduler job and an operator never train the same model twice.
Jobs live in memory (the newest few are kept); what they produce is in `model_registry`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from trader.adapters.sector_map import ensure_sector_map
from trader.core.market import InvalidSymbolError, normalize_symbol
from trader.ml.ranking_retraining import (
    DEFAULT_RANKING_NAME,
    RankingRequest,
    load_universe,
    train_ranking_candidate,
)
from trader.ml.ranking_settings import gate_thresholds_from, ranking_config_from
from trader.ml.retraining import (
    DEFAULT_MODEL_NAME,
    TrainingRequest,
    default_symbols,
    models_directory,
    train_candidate,
)
from trader.ml.training import TrainingConfig
from trader.services.common.resources import Resources
from trader.services.common.security import Principal, require_scope

log = logging.getLogger("trader.services.strategy_engine")
KEPT_JOBS = 50


class TrainBody(BaseModel):
    name: str = Field(DEFAULT_MODEL_NAME, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    symbols: list[str] | None = Field(
        None, min_length=1, max_length=100, description="default: the watchlist"
    )
    horizon: int = Field(5, ge=1, le=60, description="bars ahead the label looks")
    folds: int = Field(4, ge=1, le=10, description="purged walk-forward folds")
    max_bars: int | None = Field(None, ge=400, le=100_000, description="default: MODEL_TRAINING_MAX_BARS")
    promote: bool = Field(True, description="promote the candidate when it beats the active model")
    kind: str = Field(
        "classifier",
        pattern="^(classifier|ranking)$",
        description="classifier (per symbol) or ranking (cross-sectional: CPCV, DSR/PBO gate, shadow first)",
    )
    trials: int | None = Field(None, ge=2, le=500, description="ranking: search trials (MODEL_SEARCH_TRIALS)")


@dataclass
class TrainingJob:
    job_id: str
    name: str
    created_at: datetime
    status: str = "queued"  # queued, running, succeeded, failed
    step: str = ""
    finished_at: datetime | None = None
    outcome: dict[str, Any] | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.job_id,
            "name": self.name,
            "status": self.status,
            "step": self.step,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "outcome": self.outcome,
            "error": self.error,
            "url": f"/models/train/{self.job_id}",
        }


class TrainingAlreadyRunningError(RuntimeError):
    def __init__(self, job: TrainingJob) -> None:
        super().__init__(f"model {job.name!r} is already being trained by job {job.job_id}")
        self.job = job


class TrainingJobs:
    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self._jobs: dict[str, TrainingJob] = {}

    def get(self, job_id: str) -> TrainingJob | None:
        return self._jobs.get(job_id)

    def start(self, request: TrainingRequest) -> TrainingJob:
        """A classifier training job (purged walk-forward; promoted when it beats the active)."""
        settings = self._resources.settings

        async def work(report: Callable[[str], None]) -> dict[str, Any]:
            outcome = await train_candidate(
                self._resources.engine,
                models_directory(settings.data_dir),
                request,
                self._resources.clock.now,
                report,
            )
            candidate = outcome.candidate
            log.info(
                "trained %s v%d (out-of-sample %s %s): %s",
                candidate.name,
                candidate.version,
                request.metric,
                candidate.metrics.get(request.metric),
                "promoted" if outcome.promoted else f"kept as candidate ({outcome.decision.reason})",
            )
            return outcome.as_dict()

        return self.start_work(request.name, work)

    def start_work(
        self, name: str, work: Callable[[Callable[[str], None]], Awaitable[dict[str, Any]]]
    ) -> TrainingJob:
        """Run `work(report)` as the job of model `name`; one job per name at a time."""
        running = next((job for job in self._jobs.values() if job.name == name and not job.finished), None)
        if running is not None:
            raise TrainingAlreadyRunningError(running)
        job = TrainingJob(uuid.uuid4().hex[:12], name, self._resources.clock.now())
        self._jobs[job.job_id] = job
        finished = [item for item in self._jobs.values() if item.finished]
        for stale in finished[: max(0, len(self._jobs) - KEPT_JOBS)]:
            del self._jobs[stale.job_id]
        job.task = asyncio.create_task(self._run(job, work), name=f"training:{job.job_id}")
        return job

    async def _run(
        self, job: TrainingJob, work: Callable[[Callable[[str], None]], Awaitable[dict[str, Any]]]
    ) -> None:
        job.status = "running"

        def report(step: str) -> None:
            job.step = step

        try:
            outcome = await work(report)
        except Exception as error:  # the job records its failure; the API reports it
            log.warning("training %s of %s failed: %s", job.job_id, job.name, error)
            job.status, job.error = "failed", f"{type(error).__name__}: {error}"
        else:
            job.status, job.outcome = "succeeded", outcome
        finally:
            job.finished_at = self._resources.clock.now()
            if job.status == "running":  # cancelled at shutdown
                job.status, job.error = "failed", "cancelled: the service stopped"

    async def wait(self) -> None:
        tasks = [job.task for job in self._jobs.values() if job.task is not None and not job.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _jobs(request: Request) -> TrainingJobs:
    jobs: TrainingJobs = request.app.state.training_jobs
    return jobs


def _ranking_work(
    request: Request, body: TrainBody, name: str, symbols: tuple[str, ...], *, named: bool
) -> Callable[[Callable[[str], None]], Awaitable[dict[str, Any]]]:
    """The job of a ranking candidate: stored bars of the universe -> train, gate, register."""
    resources: Resources = request.app.state.resources
    settings = resources.settings
    ranking = RankingRequest(
        name=name,
        config=ranking_config_from(settings, horizon=body.horizon, trials=body.trials),
        thresholds=gate_thresholds_from(settings),
        symbols_named=named,
    )
    notify = getattr(request.app.state, "notify", None)

    async def work(report: Callable[[str], None]) -> dict[str, Any]:
        report("loading bars")
        now = resources.clock.now
        series = await load_universe(
            resources.engine, symbols, now(), settings.model_ranking_history_sessions
        )
        outcome = await train_ranking_candidate(
            resources.engine,
            models_directory(settings.data_dir),
            series,
            ensure_sector_map(settings.risk_sector_map_path),
            ranking,
            now,
            notify=notify,
            progress=report,
        )
        return outcome.as_dict()

    return work


def build_training_router() -> APIRouter:
    router = APIRouter(tags=["models"])

    @router.post("/models/train", status_code=202, summary="Train a candidate model on stored bars (a job)")
    async def train(
        body: TrainBody, request: Request, _principal: Principal = Depends(require_scope("trade"))
    ) -> JSONResponse:
        resources: Resources = request.app.state.resources
        settings = resources.settings
        try:
            symbols = (
                tuple(sorted({normalize_symbol(symbol) for symbol in body.symbols}))
                if body.symbols
                else await default_symbols(resources.engine, settings.data_watchlist)
            )
            if body.kind == "ranking":
                name = body.name if body.name != DEFAULT_MODEL_NAME else DEFAULT_RANKING_NAME
                work = _ranking_work(request, body, name, symbols, named=bool(body.symbols))
            else:
                training = TrainingRequest(
                    symbols=symbols,
                    name=body.name,
                    max_bars=body.max_bars or settings.model_training_max_bars,
                    config=TrainingConfig(horizon=body.horizon, folds=body.folds),
                    promote=body.promote,
                    metric=settings.model_promotion_metric,
                    min_improvement=settings.model_promotion_min_improvement,
                )
        except (InvalidSymbolError, ValueError) as error:
            raise HTTPException(422, detail=str(error)) from None
        try:
            job = (
                _jobs(request).start_work(name, work)
                if body.kind == "ranking"
                else _jobs(request).start(training)
            )
        except TrainingAlreadyRunningError as error:
            return JSONResponse(
                {"detail": str(error), **error.job.as_dict()},
                status_code=409,
                headers={"Location": error.job.as_dict()["url"]},
            )
        request.state.audit_action = "model.train"
        request.state.audit_details = {"id": job.job_id, "name": body.name, "symbols": list(symbols)}
        body_out = job.as_dict()
        return JSONResponse(body_out, status_code=202, headers={"Location": body_out["url"]})

    @router.get("/models/train/{job_id}", summary="A training job: status, step, and the outcome once done")
    async def training_job(job_id: str, request: Request) -> dict[str, Any]:
        job = _jobs(request).get(job_id)
        if job is None:
            raise HTTPException(404, detail=f"no training job {job_id}")
        return job.as_dict()

    return router
