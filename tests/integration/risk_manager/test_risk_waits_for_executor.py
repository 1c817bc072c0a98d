"""With a simulated broker fed the replayed bars, a signal is judged only after the executor has
matched that session's bars and recorded their fills (both hear of the bars at the same moment)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.risk_manager.books import insert_daily_bars, signal, wavy_closes
from trader.adapters.db.stores.system_flags import BarsAppliedStore
from trader.services.risk_manager.handlers import RiskManager


async def test_judging_waits_until_every_bar_of_the_session_is_applied(
    manager: RiskManager, engine: AsyncEngine
) -> None:
    now = manager.clock.now()
    emitted = signal("AAPL", "buy", Decimal(100), now)
    for symbol in ("AAPL", "MSFT"):
        await insert_daily_bars(engine, symbol, wavy_closes(30), emitted.bar_at)
    applied = BarsAppliedStore(engine)
    await applied.record("AAPL", emitted.bar_at, now)
    await applied.record("MSFT", emitted.bar_at - timedelta(days=1), now)

    judging = asyncio.create_task(manager.judge(emitted))
    await asyncio.sleep(0.5)
    assert not judging.done()  # MSFT's bar of the session has not reached the broker yet

    await applied.record("MSFT", emitted.bar_at, now)
    judgement = await asyncio.wait_for(judging, timeout=10)
    assert judgement.decision is not None and judgement.decision.approved


async def test_without_an_executor_applying_bars_nothing_waits(
    manager: RiskManager, engine: AsyncEngine
) -> None:
    now = manager.clock.now()
    emitted = signal("AAPL", "buy", Decimal(100), now)
    await insert_daily_bars(engine, "AAPL", wavy_closes(30), emitted.bar_at)
    judgement = await asyncio.wait_for(manager.judge(emitted), timeout=5)
    assert judgement.decision is not None


async def test_an_executor_that_never_catches_up_delays_the_judgement_by_the_limit_only(
    manager: RiskManager, engine: AsyncEngine
) -> None:
    manager.executor_wait_seconds = 0.3
    now = manager.clock.now()
    emitted = signal("AAPL", "buy", Decimal(100), now)
    await insert_daily_bars(engine, "AAPL", wavy_closes(30), emitted.bar_at)
    await BarsAppliedStore(engine).record("AAPL", emitted.bar_at - timedelta(days=1), now)
    judgement = await asyncio.wait_for(manager.judge(emitted), timeout=5)
    assert judgement.decision is not None


async def test_one_query_names_the_stored_bars_not_yet_applied(engine: AsyncEngine) -> None:
    bar_at = datetime(2024, 3, 5, 14, 31, tzinfo=UTC)
    applied = BarsAppliedStore(engine)
    for symbol in ("AAPL", "MSFT", "IBM", "XOM"):
        await insert_daily_bars(engine, symbol, [Decimal(100)], bar_at)
    assert await applied.not_applied(bar_at) is None  # no executor applies bars

    await applied.record("AAPL", bar_at, bar_at)
    await applied.record("MSFT", bar_at - timedelta(minutes=1), bar_at)
    # A later bar counts as applied too, however its time is written (microseconds sort after none).
    await applied.record("IBM", bar_at + timedelta(microseconds=1), bar_at)
    assert await applied.not_applied(bar_at) == ["MSFT", "XOM"]
    assert await applied.not_applied(bar_at + timedelta(minutes=5)) == []  # no bar stored then

    eastern = timezone(timedelta(hours=-5))
    # The same instant written in New York time is stored, and asked about, as the same time.
    await applied.record_many({"MSFT": bar_at, "XOM": bar_at.astimezone(eastern)}, bar_at)
    assert await applied.not_applied(bar_at) == []
    assert await applied.not_applied(bar_at.astimezone(eastern)) == []
