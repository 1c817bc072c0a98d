"""Strategy Engine service (port 8002): strategy configurations, live signals from closed bars,
backtest jobs and the model registry."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from trader.adapters.db.stores.llm_calls import LlmCallStore
from trader.adapters.llm.advisor import LlmAdvisor
from trader.adapters.llm.panel import LlmMetricsCollector, LlmPanel
from trader.adapters.llm.providers import build_models
from trader.adapters.sector_map import ensure_sector_map
from trader.ml.desk import DeskRules, ModelDesk
from trader.ml.ranking_retraining import Notify
from trader.ml.ranking_settings import fill_model_from
from trader.services.common.app_factory import build_service_app
from trader.services.common.consumers import consumer_name
from trader.services.common.health import ComponentCheck
from trader.services.common.metrics import ServiceMetrics, strategy_metrics
from trader.services.common.notifications import dispatcher_from_settings
from trader.services.common.resources import Resources
from trader.services.strategy_engine.catalog import strategy_catalog
from trader.services.strategy_engine.handlers import StrategyEngine, consume_bars
from trader.services.strategy_engine.llm_signals import LlmSignals
from trader.services.strategy_engine.model_routes import build_model_router
from trader.services.strategy_engine.ranking import RankingDeskRunner
from trader.services.strategy_engine.readiness import StrategyDataReadiness
from trader.services.strategy_engine.routes import build_router
from trader.services.strategy_engine.training import TrainingJobs, build_training_router

SERVICE = "strategy_engine"
log = logging.getLogger("trader.services.strategy_engine")


def build_engine(resources: Resources) -> StrategyEngine:
    settings = resources.settings
    catalog, report = strategy_catalog(settings)
    advisor = None
    if settings.llm_enabled:
        advisor = LlmAdvisor(
            resources.http,
            base_url=settings.llm_advisor_url,
            model=settings.llm_model,
            api_style=settings.llm_api_style,
            timeout_seconds=settings.llm_timeout_seconds,
            fallback=settings.llm_fallback,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        )
    return StrategyEngine(resources, catalog, report, advisor, build_llm_signals(resources))


def build_llm_signals(resources: Resources) -> LlmSignals:
    """The llm strategy's panel of LLM_MODELS, recording its calls in this system's database."""
    models = build_models(resources.settings, resources.http)
    return LlmSignals(resources, LlmPanel(models, LlmCallStore(resources.engine)))


def _llm_health(engine: StrategyEngine, resources: Resources) -> list[ComponentCheck]:
    """With LLM_MODELS configured, a model failing or over its budget degrades the service (its
    strategy falls back); without, there is nothing of the panel's to watch."""
    if engine.llm is None or not resources.settings.llm_models:
        return []
    return [ComponentCheck("llm_models", engine.llm.panel.health, critical=False)]


def build_ranking_desk(resources: Resources, engine: StrategyEngine, notify: Notify) -> RankingDeskRunner:
    """The model desk behind `ml_ranking` configurations, trading through the engine's signals."""
    settings = resources.settings
    runner = RankingDeskRunner(
        engine.configs,
        engine.signals,
        resources.bus,
        resources.clock,
        ensure_sector_map(settings.risk_sector_map_path),
    )
    runner.desk = ModelDesk(
        resources.engine,
        DeskRules(
            fill_model=fill_model_from(settings),
            notional=settings.model_label_notional,
            shadow_periods=settings.model_shadow_periods,
            band_z=settings.model_band_z,
            rollback_psi=settings.model_rollback_psi,
            history_sessions=settings.model_ranking_history_sessions,
        ),
        resources.clock.now,
        notify=notify,
        trade=runner.trade,
    )
    engine.ranking = runner
    return runner


def create_app(resources: Resources) -> FastAPI:
    engine = build_engine(resources)
    training_jobs = TrainingJobs(resources)
    metrics = ServiceMetrics(SERVICE)
    dispatcher = dispatcher_from_settings(resources.settings, resources.http)
    ranking_desk = build_ranking_desk(resources, engine, dispatcher.notify)

    async def strategy_worker() -> None:
        try:
            await engine.seed_default()
        except Exception:  # a bad default (e.g. a typo in STRATEGY_DEFAULT_TYPE) must be seen, not fatal
            log.exception("could not seed the default strategy configuration")
        await consume_bars(
            engine,
            consumer_name(SERVICE),
            stale_after_ms=resources.settings.bus_claim_stale_ms,
            batch=resources.settings.strategy_read_batch,
            metrics=strategy_metrics(metrics),
        )

    async def backtest_jobs() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await engine.wait_for_jobs()
            await training_jobs.wait()

    readiness = StrategyDataReadiness(engine.data_status)
    app = build_service_app(
        SERVICE,
        resources,
        title="Strategy Engine",
        routers=[build_router(), build_training_router(), build_model_router()],
        workers=[strategy_worker, backtest_jobs],
        metrics=metrics,
        components=[
            # An enabled strategy starved of bars degrades the service (never silently stops trading).
            ComponentCheck("strategy_data", readiness.check, critical=False),
            *_llm_health(engine, resources),
        ],
    )
    app.state.strategy_engine = engine
    if engine.llm is not None:
        metrics.registry.register(LlmMetricsCollector(engine.llm.panel))
    app.state.training_jobs = training_jobs
    app.state.ranking_desk = ranking_desk
    app.state.notify = dispatcher.notify
    return app
