"""Strategy Engine service (port 8002): strategy configurations, live signals from closed bars,
backtest jobs and the model registry."""

from __future__ import annotations

import logging

from trader.adapters.db.stores.llm_calls import LlmCallStore
from trader.adapters.llm.advisor import LlmAdvisor
from trader.adapters.llm.panel import LlmPanel
from trader.adapters.llm.providers import build_models
from trader.adapters.strategy_loader import discover_strategies
from trader.core.llm.strategy import llm_strategy_type
from trader.ml.strategy import ml_strategy_type
from trader.services.common.resources import Resources
from trader.services.strategy_engine.handlers import StrategyEngine
from trader.services.strategy_engine.llm_signals import LlmSignals

SERVICE = "strategy_engine"
log = logging.getLogger("trader.services.strategy_engine")


def build_engine(resources: Resources) -> StrategyEngine:
    settings = resources.settings
    catalog, report = discover_strategies(
        settings.strategies_dir, check_bars=settings.strategy_lookahead_bars
    )
    catalog.register(ml_strategy_type())
    catalog.register(llm_strategy_type())
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
