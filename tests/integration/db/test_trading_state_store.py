from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.core.risk.state import StateChange, TradingState

AT = datetime(2024, 3, 8, 15, 0, tzinfo=UTC)


async def test_no_history_means_active(engine: AsyncEngine) -> None:
    store = TradingStateStore(engine)
    assert await store.current() is None
    assert await store.current_state() is TradingState.ACTIVE


async def test_the_newest_change_wins_and_survives_a_new_connection(engine: AsyncEngine) -> None:
    store = TradingStateStore(engine)
    await store.record(
        StateChange(TradingState.ACTIVE, TradingState.REDUCING, "drawdown 8%", "risk_manager", AT)
    )
    await store.record(
        StateChange(
            TradingState.REDUCING, TradingState.HALTED, "security incident", "ops", AT + timedelta(minutes=1)
        )
    )
    # A fresh engine stands for a restarted service.
    reopened_engine = create_engine(engine.url.render_as_string(hide_password=False))
    current = await TradingStateStore(reopened_engine).current()
    await reopened_engine.dispose()
    assert current is not None
    assert (current.state, current.previous_state, current.reason, current.changed_by) == (
        TradingState.HALTED,
        TradingState.REDUCING,
        "security incident",
        "ops",
    )
    assert [change.state for change in await store.history()] == [TradingState.HALTED, TradingState.REDUCING]
    assert [c.state for c in await store.history(since=AT + timedelta(seconds=30))] == [TradingState.HALTED]
