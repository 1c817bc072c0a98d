"""The bars data retention must keep: every enabled strategy configuration's lookback (built with
the engine's own catalogue, in its own timeframe) and the retraining window of the symbols models
train on. Used by the scheduler's retention job and by `trader integrity cleanup`."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.market_data import WatchlistStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.strategies import FOLLOWS_WATCHLIST, StrategyConfigStore
from trader.core.market import Timeframe
from trader.core.retention import (
    BarNeed,
    KeepRule,
    keep_rules,
    strategy_needs,
    training_needs,
    unknown_strategy_needs,
)
from trader.settings import Settings


async def bar_needs(engine: AsyncEngine, settings: Settings, base: Timeframe) -> list[BarNeed]:
    # Imported here: the catalogue and the training code pull in scikit-learn, seconds of start-up
    # the scheduler would otherwise pay for a job that runs once a day.
    from trader.ml.retraining import default_symbols
    from trader.services.strategy_engine.catalog import strategy_catalog

    catalog, _report = strategy_catalog(settings)
    needs: list[BarNeed] = []
    # A configuration that follows the watchlist ("*", the screener's universe) needs the bars of
    # every symbol it may trade: the watchlist, and what is still held (managed until flat).
    followed = sorted(
        set(await WatchlistStore(engine).symbols())
        | {stored.symbol for stored in await PositionStore(engine).all() if stored.position.quantity}
    )
    for stored_config in await StrategyConfigStore(engine).list(enabled_only=True):
        config = (
            replace(stored_config, symbols=followed)
            if stored_config.symbols == [FOLLOWS_WATCHLIST]
            else stored_config
        )
        try:
            lookback = int(catalog.build(config.strategy_type, config.parameters).lookback_bars)
            timeframe = Timeframe.parse(config.timeframe)
        except (ValueError, LookupError) as error:  # e.g. its strategy file was removed: keep all
            needs += unknown_strategy_needs(config.name, config.symbols, f"{type(error).__name__}: {error}")
            continue
        needs += strategy_needs(config.name, config.symbols, timeframe, lookback, base)
    # The weekly retraining (and `trader model train` without symbols) trains on the watchlist.
    training_symbols = await default_symbols(engine, settings.data_watchlist)
    needs += training_needs(training_symbols, settings.model_training_max_bars)
    return needs


async def bars_to_keep(engine: AsyncEngine, settings: Settings, base: Timeframe) -> dict[str, KeepRule]:
    return keep_rules(await bar_needs(engine, settings, base))
