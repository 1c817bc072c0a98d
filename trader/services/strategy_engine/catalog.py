"""The strategy catalogue the engine runs: built-in types, the user's strategy files that pass the
look-ahead check, the ML classifier, the LLM panel and the ML ranking types. Shared with anything
that must know the strategies' lookbacks the way the engine does (data retention)."""

from __future__ import annotations

from trader.adapters.strategy_loader import DiscoveryReport, discover_strategies
from trader.core.llm.strategy import llm_strategy_type
from trader.core.strategies.catalog import StrategyCatalog
from trader.ml.ranking_strategy import ranking_strategy_type
from trader.ml.strategy import ml_strategy_type
from trader.settings import Settings


def strategy_catalog(settings: Settings) -> tuple[StrategyCatalog, DiscoveryReport]:
    catalog, report = discover_strategies(
        settings.strategies_dir, check_bars=settings.strategy_lookahead_bars
    )
    catalog.register(ml_strategy_type())
    catalog.register(llm_strategy_type())
    catalog.register(ranking_strategy_type())
    return catalog, report
