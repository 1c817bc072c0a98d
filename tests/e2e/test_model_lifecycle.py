"""A ranking model's whole life on the replay clock: gated candidate -> shadow -> champion -> rollback.

A synthetic universe of real NYSE sessions whose daily returns revert (a planted edge) until a
regime change turns them into momentum. A model trained on the first sessions passes the gate
and shadows. The strategy engine then receives the later sessions' bars from the replay feed as
the simulated clock passes each close, exactly as the collector hands them over: the desk
records the shadow's picks (nothing traded), promotes it once its settled results sit in the
backtest's band, trades the champion's picks as signals, and rolls it back when the regime
change pushes its live results below the band. Real SQLite, the real strategy engine app.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.stores.model_lifecycle import ModelEventStore, ModelPeriodStore
from trader.adapters.db.stores.models import ModelRegistryStore
from trader.adapters.db.stores.strategies import StrategyConfig
from trader.adapters.replay import BarReplay
from trader.core.events import bar_closed_event
from trader.core.fills import FillModel, Slippage
from trader.core.market import Bar, Timeframe
from trader.core.strategies.series import BarSeries
from trader.ml.estimators import ModelParameters
from trader.ml.ranking_retraining import RankingRequest, train_ranking_candidate
from trader.ml.ranking_training import RankingConfig
from trader.runtime.bootstrap import open_resources
from trader.services.strategy_engine.app import create_app
from trader.settings import Settings

pytestmark = pytest.mark.e2e
SYMBOLS = tuple(f"S{index:02d}" for index in range(24))
TRAINING_SESSIONS = 300
REGIME_CHANGE = 340  # reversal up to here, momentum after
REPLAYED_SESSIONS = 130


def _universe(sessions: list[datetime], seed: int = 4) -> dict[str, list[Bar]]:
    rng = np.random.default_rng(seed)
    size = len(sessions)
    returns = np.zeros((size, len(SYMBOLS)))
    for t in range(1, size):
        persistence = -0.6 if t < REGIME_CHANGE else 0.7
        returns[t] = persistence * returns[t - 1] + rng.normal(0.0, 0.015, len(SYMBOLS))
    close = 40.0 * np.exp(np.cumsum(returns, axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    bars: dict[str, list[Bar]] = {symbol: [] for symbol in SYMBOLS}
    for t, moment in enumerate(sessions):
        for j, symbol in enumerate(SYMBOLS):
            o, c = Decimal(f"{open_[t, j]:.4f}"), Decimal(f"{close[t, j]:.4f}")
            bars[symbol].append(
                Bar(
                    symbol=symbol,
                    timeframe=Timeframe.DAY1,
                    timestamp=moment,
                    open=o,
                    high=max(o, c) * Decimal("1.002"),
                    low=min(o, c) * Decimal("0.998"),
                    close=c,
                    volume=Decimal(100_000 + 1000 * j),
                    source="synthetic",
                )
            )
    return bars


def _settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        strategies_dir=tmp_path / "strategies",
        risk_sector_map_path=tmp_path / "sector_map.csv",
        data_watchlist=",".join(SYMBOLS[:2]),
        simulated_slippage_bps=Decimal(5),
        model_shadow_periods=4,
        model_ranking_history_sessions=150,
    )


@pytest.mark.timeout(600)
async def test_shadow_then_champion_then_rollback_on_the_replay_clock(
    tmp_path: Path, sqlite_url: str
) -> None:
    calendar = XNYSCalendar()
    sessions = [
        session.open_at for session in calendar.sessions_between(date(2015, 1, 2), date(2016, 12, 30))
    ]
    sessions = sessions[: TRAINING_SESSIONS + REPLAYED_SESSIONS]
    bars = _universe(sessions)
    history = [bar for symbol in SYMBOLS for bar in bars[symbol][:TRAINING_SESSIONS]]
    later = [bar for symbol in SYMBOLS for bar in bars[symbol][TRAINING_SESSIONS:]]
    clock = SimulatedClock(sessions[TRAINING_SESSIONS - 1].replace(hour=21), speed=0)
    async with open_resources(_settings(tmp_path, sqlite_url), clock=clock) as resources:
        app = create_app(resources)
        engine = app.state.strategy_engine
        await MarketDataStore(resources.engine).upsert_bars(history)
        outcome = await train_ranking_candidate(
            resources.engine,
            tmp_path / "data" / "models",
            [BarSeries.from_bars(bars[symbol][:TRAINING_SESSIONS]) for symbol in SYMBOLS],
            {},
            RankingRequest(
                name="universe",
                config=RankingConfig(
                    trials=3,
                    groups=4,
                    parameters=ModelParameters(trees=30, min_leaf_samples=40),
                    fill_model=FillModel(slippage=Slippage(5)),
                ),
            ),
            clock.now,
        )
        assert outcome.version.status == "shadow", outcome.decision.reason
        await engine.configs.create(
            StrategyConfig(
                name="ranked",
                strategy_type="ml_ranking",
                parameters={"model_name": "universe"},
                symbols=list(SYMBOLS),
                timeframe="1day",
                enabled=True,
                updated_by="test",
            ),
            clock.now(),
        )
        replay = BarReplay(later, calendar)
        statuses: list[tuple[datetime, str]] = []
        registry = ModelRegistryStore(resources.engine)
        while (moment := replay.next_close_at()) is not None:
            clock.advance_to(moment)
            released = replay.released_until(clock.now())
            await MarketDataStore(resources.engine).upsert_bars(released)
            await engine.on_bars([bar_closed_event(bar, clock.now()) for bar in released])
            status = (await registry.get("universe", 1)).status
            if not statuses or statuses[-1][1] != status:
                statuses.append((released[0].timestamp, status))
            if status == "rolled_back":
                break  # the cycle is complete; the rest of the replay would only add time
        history_of_events = list(reversed(await ModelEventStore(resources.engine).list("universe", 1)))
        events = [event.event for event in history_of_events]
        reasons = [(event.event, event.reason) for event in history_of_events]
        periods = await ModelPeriodStore(resources.engine).list("universe", 1)
        signals = await engine.signals.recent(limit=1000, strategy_name="ranked")
        desk = app.state.ranking_desk.status()
    assert desk["errors"] == {}, desk
    assert [status for _, status in statuses] == ["shadow", "active", "rolled_back"], statuses
    assert events == ["trained", "gate_passed", "promoted", "rolled_back"], events
    assert "left the backtest band" in reasons[-1][1], reasons
    promoted_at, rolled_back_at = statuses[1][0], statuses[2][0]
    assert promoted_at < sessions[REGIME_CHANGE] < rolled_back_at
    shadow = [period for period in periods if period.role == "shadow"]
    champion = [period for period in periods if period.role == "champion"]
    assert len(shadow) >= 4 and len(champion) >= 4
    # Signals only from the champion's rebalances: none while shadowing, sells when rolled back.
    assert signals and min(signal.bar_timestamp for signal in signals) >= champion[0].session_at
    assert any(signal.direction == "sell" and "rolled back" in (signal.reason or "") for signal in signals)
    settled = [period.excess for period in champion if period.excess is not None]
    assert np.mean(settled[-4:]) < 0
