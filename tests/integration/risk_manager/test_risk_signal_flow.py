"""Signals in, recorded decisions out: sizing, every reason, idempotent redelivery, breakers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.risk_manager.books import (
    insert_daily_bars,
    seed_drawdown,
    signal,
    wavy_closes,
)
from trader.adapters.db.tables import risk_decisions, signals, trading_states
from trader.core.events import OrderApproved, OrderDenied, TradingStateChanged
from trader.core.ports import MessageBus
from trader.core.risk.reasons import ReasonCode
from trader.core.risk.state import TradingState
from trader.core.topics import DECISIONS, SIGNALS, TRADING_STATE
from trader.services.risk_manager.handlers import RiskManager, StateConflictError
from trader.services.risk_manager.worker import GROUP, SignalWorker

PROBE = "probe"


async def _count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_a_buy_is_sized_approved_recorded_then_published(
    manager: RiskManager, engine: AsyncEngine, bus: MessageBus
) -> None:
    now = manager.clock.now()
    await insert_daily_bars(engine, "AAPL", wavy_closes(30), now - timedelta(days=1))
    await bus.ensure_group(DECISIONS, PROBE)

    judgement = await manager.judge(signal("AAPL", "buy", Decimal(100), now))

    record = judgement.decision
    assert record is not None and judgement.created
    assert record.approved, record.reasons
    equity = Decimal(record.snapshot["portfolio"]["equity"])
    budget = manager.sizing.fraction * equity
    # Whole shares, as many as the sizing fraction of equity pays for and no more.
    assert record.quantity * Decimal(100) <= budget < (record.quantity + 1) * Decimal(100)
    assert record.snapshot["context"]["volatility"] is not None
    assert record.snapshot["context"]["sector"] == "Information Technology"
    stored = await manager.store.recent_decisions(symbol="AAPL")
    assert [item.decision_id for item in stored] == [record.decision_id]
    assert await _count(engine, signals) == 1
    (delivery,) = await bus.read(DECISIONS, PROBE, "test", block_ms=100)
    assert isinstance(delivery.event, OrderApproved)
    assert delivery.event.event_id == record.decision_id
    assert delivery.event.quantity == record.quantity and delivery.event.side == "buy"


async def test_a_redelivered_signal_gets_its_recorded_decision_again_not_a_second_one(
    manager: RiskManager, engine: AsyncEngine, bus: MessageBus
) -> None:
    now = manager.clock.now()
    await insert_daily_bars(engine, "MSFT", wavy_closes(30, start=300), now - timedelta(days=1))
    await bus.ensure_group(SIGNALS, GROUP)
    await bus.ensure_group(DECISIONS, PROBE)
    event = signal("MSFT", "buy", Decimal(300), now)
    await bus.publish(SIGNALS, event)
    await bus.publish(SIGNALS, event)  # the same event delivered twice
    worker = SignalWorker(manager, bus, consumer="worker-1")

    handled = 0
    for _ in range(5):
        handled += await worker.run_once(block_ms=100)
        if handled == 2:
            break

    assert handled == 2
    assert await _count(engine, risk_decisions) == 1
    assert await bus.pending_count(SIGNALS, GROUP) == 0
    published = await bus.read(DECISIONS, PROBE, "test", block_ms=100)
    assert len(published) == 2
    assert len({delivery.event.event_id for delivery in published}) == 1


async def test_every_reason_is_kept_and_filterable(manager: RiskManager, engine: AsyncEngine) -> None:
    now = manager.clock.now()
    await insert_daily_bars(engine, "IBM", wavy_closes(30, start=150), now - timedelta(days=1))
    # A short asked for with shorting off; an unknown symbol has no volatility.
    short = await manager.judge(signal("IBM", "short", Decimal(150), now))
    unknown = await manager.judge(signal("ZZZZ", "buy", Decimal(20), now))

    assert short.decision is not None and not short.decision.approved
    assert ReasonCode.SHORTING_NOT_ALLOWED.value in short.decision.codes
    assert unknown.decision is not None
    assert ReasonCode.VOLATILITY_UNKNOWN.value in unknown.decision.codes
    assert unknown.decision.snapshot["context"]["sector"] == "Unknown"
    by_reason = await manager.store.recent_decisions(reason_code=ReasonCode.VOLATILITY_UNKNOWN.value)
    assert [item.symbol for item in by_reason] == ["ZZZZ"]
    denied = await manager.store.recent_decisions(decision="denied")
    assert {item.symbol for item in denied} == {"IBM", "ZZZZ"}
    assert await manager.store.recent_decisions(decision="approved") == []


async def test_a_repeated_signal_within_the_cooldown_is_a_duplicate(
    manager: RiskManager, engine: AsyncEngine
) -> None:
    now = manager.clock.now()
    await insert_daily_bars(engine, "AAPL", wavy_closes(30), now - timedelta(days=1))
    first = await manager.judge(signal("AAPL", "buy", Decimal(100), now))
    again = await manager.judge(signal("AAPL", "buy", Decimal(100), now, bar_minutes=0))

    assert first.decision is not None and first.decision.approved
    assert again.decision is not None
    assert ReasonCode.DUPLICATE_SIGNAL.value in again.decision.codes


async def test_a_drawdown_breach_halts_then_everything_is_denied(
    manager: RiskManager, engine: AsyncEngine, bus: MessageBus
) -> None:
    now = manager.clock.now()
    await seed_drawdown(engine, now)
    await bus.ensure_group(TRADING_STATE, PROBE)
    await bus.ensure_group(DECISIONS, PROBE)

    buy = await manager.judge(signal("MSFT", "buy", Decimal(300), now))
    close = await manager.judge(signal("AAPL", "flat", Decimal(60), now, strategy_name="exit_rule"))

    assert await manager.trading_state() is TradingState.HALTED
    assert await _count(engine, trading_states) == 1
    (change,) = await bus.read(TRADING_STATE, PROBE, "test", block_ms=100)
    assert isinstance(change.event, TradingStateChanged)
    assert change.event.state == "halted" and "MAX_DRAWDOWN_REACHED" in change.event.reason
    for judgement in (buy, close):
        assert judgement.decision is not None
        assert judgement.decision.codes[0] == ReasonCode.TRADING_HALTED.value
        assert judgement.decision.trading_state == "halted"
    assert Decimal(buy.decision.snapshot["portfolio"]["drawdown"]) >= Decimal("0.15")  # type: ignore[union-attr]
    published = await bus.read(DECISIONS, PROBE, "test", block_ms=100)
    assert [type(delivery.event) for delivery in published] == [OrderDenied, OrderDenied]


async def test_resuming_a_drawdown_halt_measures_drawdown_from_then(
    manager: RiskManager, engine: AsyncEngine
) -> None:
    now = manager.clock.now()
    await seed_drawdown(engine, now)
    await insert_daily_bars(engine, "MSFT", wavy_closes(30, start=50), now - timedelta(days=1))
    await manager.judge(signal("MSFT", "buy", Decimal(50), now))
    assert await manager.trading_state() is TradingState.HALTED

    change = await manager.change_state(TradingState.ACTIVE, reason="loss reviewed", changed_by="alice")
    after = await manager.judge(signal("MSFT", "buy", Decimal(50), now, strategy_name="other"))

    assert change.previous_state is TradingState.HALTED
    assert await manager.trading_state() is TradingState.ACTIVE
    assert after.decision is not None
    assert ReasonCode.TRADING_HALTED.value not in after.decision.codes
    assert ReasonCode.MAX_DRAWDOWN_REACHED.value not in after.decision.codes
    assert Decimal(after.decision.snapshot["portfolio"]["drawdown"]) == 0


async def test_resuming_while_the_day_loss_breaker_holds_is_refused_to_active(
    manager: RiskManager, engine: AsyncEngine
) -> None:
    now = manager.clock.now()
    await seed_drawdown(engine, now, lost_today=True)
    await manager.judge(signal("AAPL", "flat", Decimal(60), now))
    assert await manager.trading_state() is TradingState.HALTED

    with pytest.raises(StateConflictError, match="DAILY_LOSS_LIMIT_REACHED"):
        await manager.change_state(TradingState.ACTIVE, reason="try", changed_by="alice")
    assert await manager.trading_state() is TradingState.HALTED
    assert await manager.store.drawdown_baseline() is None
    change = await manager.change_state(TradingState.REDUCING, reason="close only", changed_by="alice")
    assert change.state is TradingState.REDUCING
    closing = await manager.judge(signal("AAPL", "flat", Decimal(60), now, strategy_name="exit_rule"))
    assert closing.decision is not None and closing.decision.approved, closing.decision
    assert await manager.trading_state() is TradingState.REDUCING
