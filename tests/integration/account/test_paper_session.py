"""A paper session against the emulated broker holding 30,000 while SIMULATED_STARTING_CASH says
100,000: risk sizes, breaks and refuses on the broker's account, read by the executor's recorder."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from sqlalchemy import func, select

from tests.emulators.alpaca import Asset
from tests.integration.account.conftest import PaperSession
from trader.adapters.db.tables import audit_logs, risk_decisions, trades
from trader.core.events import TradingStateChanged
from trader.core.risk.reasons import ReasonCode
from trader.core.risk.state import TradingState
from trader.core.topics import EXECUTOR_COMMANDS, TRADING_STATE
from trader.services.trade_executor.commands import COMMANDS_GROUP


async def _rows(session: PaperSession, table: object) -> int:
    async with session.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def _buy_aapl(session: PaperSession) -> None:
    judgement = await session.judge("AAPL", "buy", Decimal(100))
    assert judgement.decision is not None and judgement.decision.approved, judgement
    await session.execute_decisions()
    assert session.emulator.position_qty("AAPL") == judgement.decision.quantity


async def test_sizes_follow_the_brokers_30000_and_current_metrics_equal_the_brokers_account(
    session: PaperSession,
) -> None:
    listening = asyncio.create_task(session.recorder.consume_fills(session.bus, consumer="test"))
    try:
        assert await session.recorder.record("start") is not None

        judgement = await session.judge("AAPL", "buy", Decimal(100))
        record = judgement.decision
        assert record is not None and record.approved, record
        # 5% of the broker's 30,000 at 100 (of 100,000 it would have been 50 shares).
        assert record.quantity == 15 and record.equity == Decimal(30_000)
        assert record.snapshot["portfolio"]["cash"] == "30000.00"
        await session.execute_decisions()
        assert session.emulator.position_qty("AAPL") == 15

        async def read_after_the_fill() -> bool:
            latest = await session.recorder.store.latest(session.clock.now())
            return latest is not None and latest.cash == Decimal(28_500) and latest.in_step

        await session.wait_for(read_after_the_fill, "the snapshot after the fill")
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
    latest = await session.recorder.store.latest(session.clock.now())
    assert latest is not None and latest.in_step and latest.equity == Decimal(30_000)

    account = await session.executor.broker.get_account()
    metrics = await session.manager.current_metrics()
    assert (Decimal(metrics["equity"]), Decimal(metrics["cash"])) == (account.equity, account.cash)
    assert Decimal(metrics["buying_power"]) == account.buying_power
    assert (Decimal(metrics["broker"]["equity"]), Decimal(metrics["broker"]["cash"])) == (
        account.equity,
        account.cash,
    )
    assert metrics["broker"]["in_step_with_books"] is True


async def test_the_account_is_read_every_minute_of_the_session(session: PaperSession) -> None:
    periodic = asyncio.create_task(session.recorder.run_periodic())
    try:
        await session.wait_for(lambda: _at_least(session, 1), "the reading at start")
        for minute in range(2, 5):
            session.move_on(timedelta(minutes=1))
            await session.wait_for(lambda m=minute: _at_least(session, m), f"the reading of minute {minute}")  # type: ignore[misc]
    finally:
        periodic.cancel()
        await asyncio.gather(periodic, return_exceptions=True)
    history = await session.recorder.store.history()
    gaps = {later.taken_at - earlier.taken_at for earlier, later in pairwise(history)}
    assert gaps == {timedelta(minutes=1)}
    assert all(snapshot.cash == Decimal(30_000) and snapshot.in_step for snapshot in history)


async def _at_least(session: PaperSession, count: int) -> bool:
    return await session.snapshot_count() >= count


@pytest.mark.parametrize(
    ("settings_overrides", "state", "flattens"),
    [
        ({}, TradingState.REDUCING, False),
        ({"risk_daily_loss_state": "halted", "risk_breaker_flatten": True}, TradingState.HALTED, True),
    ],
)
async def test_a_loss_past_the_daily_limit_moves_the_state_as_configured(
    session: PaperSession, state: TradingState, flattens: bool
) -> None:
    await session.recorder.record("start")
    await _buy_aapl(session)
    # The broker closed yesterday at 32,000: today's 30,000 is a 6.25% loss, past the 3% limit.
    session.emulator.set_account(last_equity=Decimal(32_000))
    await session.recorder.record("periodic")

    change = await session.manager.check_breakers()

    assert change is not None and change.state is state
    assert change.reason.startswith("DAILY_LOSS_LIMIT_REACHED: day loss 6.2% >= 3%")
    assert await session.manager.trading_state() is state
    published = await session.bus.read(TRADING_STATE, "notifications", "test", count=10, block_ms=50)
    assert [d.event.state for d in published if isinstance(d.event, TradingStateChanged)] == [state.value]
    async with session.engine.connect() as connection:
        audited = (
            await connection.execute(
                select(audit_logs).where(audit_logs.c.action == "circuit_breaker_tripped")
            )
        ).all()
    assert len(audited) == 1
    commands = await session.bus.read(EXECUTOR_COMMANDS, COMMANDS_GROUP, "test", count=10, block_ms=50)
    assert len(commands) == (1 if flattens else 0)
    for delivery in commands:
        await session.commands.handle(delivery.event)
    session.emulator.fill_pending()
    await session.executor.reconcile()
    assert session.emulator.position_qty("AAPL") == (0 if flattens else 15)
    # Trading stays where the breaker put it: a new buy is refused.
    session.move_on(timedelta(minutes=10))
    await session.recorder.record("periodic")
    refused = await session.judge("MSFT", "buy", Decimal(100))
    assert refused.decision is not None and not refused.decision.approved
    expected = ReasonCode.TRADING_HALTED if flattens else ReasonCode.TRADING_REDUCING_ONLY
    assert expected.value in refused.decision.codes


async def test_an_exit_when_flat_sends_nothing_and_records_no_denial(session: PaperSession) -> None:
    await session.recorder.record("start")
    orders_before = session.emulator.order_count()

    judgement = await session.judge("MSFT", "sell", Decimal(100))

    assert judgement.decision is None and "target already" in judgement.note
    assert await session.execute_decisions() == []
    assert session.emulator.order_count() == orders_before
    assert await _rows(session, risk_decisions) == 0 and await _rows(session, trades) == 0


async def test_a_repeated_entry_adds_nothing_to_the_position(session: PaperSession) -> None:
    await session.recorder.record("start")
    await _buy_aapl(session)
    await session.recorder.record("after fill")
    session.move_on(timedelta(minutes=10))

    again = await session.judge("AAPL", "buy", Decimal(100))

    assert again.decision is None
    assert await session.execute_decisions() == []
    assert session.emulator.position_qty("AAPL") == 15


async def test_a_fourth_day_trade_in_five_days_under_25000_is_refused_with_its_code(
    session: PaperSession,
) -> None:
    session.emulator.set_cash(Decimal(24_000))
    session.emulator.set_account(daytrade_count=3, pattern_day_trader=False)
    await session.recorder.record("start")
    await _buy_aapl(session)
    await session.recorder.record("after fill")
    session.move_on(timedelta(minutes=10))
    orders_before = session.emulator.order_count()

    closing = await session.judge("AAPL", "sell", Decimal(100))

    record = closing.decision
    assert record is not None and not record.approved
    assert record.codes == (ReasonCode.PATTERN_DAY_TRADE_LIMIT.value,), record.reasons
    assert "day trade 4 in five business days" in record.reasons[0]
    assert await session.execute_decisions() == []
    assert session.emulator.order_count() == orders_before and session.emulator.position_qty("AAPL") == 12


async def test_at_25000_or_with_fewer_day_trades_the_same_close_is_approved(session: PaperSession) -> None:
    session.emulator.set_account(daytrade_count=2, pattern_day_trader=False)
    session.emulator.set_cash(Decimal(24_000))
    await session.recorder.record("start")
    await _buy_aapl(session)
    await session.recorder.record("after fill")
    session.move_on(timedelta(minutes=10))

    closing = await session.judge("AAPL", "sell", Decimal(100))

    assert closing.decision is not None and closing.decision.approved, closing.decision
    await session.execute_decisions()
    assert session.emulator.position_qty("AAPL") == 0


@pytest.mark.parametrize(
    ("account", "code"),
    [
        ({"omit": ["equity", "buying_power"]}, ReasonCode.ACCOUNT_UNUSABLE),
        ({"daytrade_count": None}, ReasonCode.ACCOUNT_UNUSABLE),
        ({"buying_power": Decimal(-500)}, ReasonCode.NEGATIVE_BUYING_POWER),
    ],
)
async def test_an_unusable_account_or_negative_buying_power_is_refused_and_nothing_is_sent(
    session: PaperSession, account: dict[str, object], code: ReasonCode
) -> None:
    await session.recorder.record("start")
    session.emulator.set_account(**account)  # type: ignore[arg-type]
    session.move_on(timedelta(minutes=1))
    await session.recorder.record("periodic")

    judgement = await session.judge("AAPL", "buy", Decimal(100))

    record = judgement.decision
    assert record is not None and not record.approved
    assert code.value in record.codes, record.reasons
    if code is ReasonCode.ACCOUNT_UNUSABLE:
        assert "account answer is unusable" in record.reasons[0]
    assert await session.execute_decisions() == []
    assert session.emulator.order_count() == 0


async def test_a_stale_account_reading_refuses_new_risk(session: PaperSession) -> None:
    await session.recorder.record("start")
    session.move_on(timedelta(minutes=6))

    judgement = await session.judge("AAPL", "buy", Decimal(100))

    assert judgement.decision is not None
    assert judgement.decision.codes == (ReasonCode.ACCOUNT_STALE.value,), judgement.decision.reasons


async def test_no_reading_at_all_refuses_new_risk_instead_of_trusting_the_starting_cash(
    session: PaperSession,
) -> None:
    judgement = await session.judge("AAPL", "buy", Decimal(100))

    assert judgement.decision is not None and not judgement.decision.approved
    assert ReasonCode.ACCOUNT_STALE.value in judgement.decision.codes
    assert "no reading of the broker's account yet" in judgement.decision.reasons[0]


async def test_fractional_shares_where_the_broker_trades_the_asset_in_fractions(
    session: PaperSession,
) -> None:
    session.emulator.set_price("AAPL", Decimal(130))
    session.emulator.add_asset(Asset("MSFT", fractionable=False))
    assert await session.recorder.learn_assets() == (2, 2)
    await session.recorder.record("start")

    fractional = await session.judge("AAPL", "buy", Decimal(130))
    whole = await session.judge("MSFT", "buy", Decimal(130))

    assert fractional.decision is not None and whole.decision is not None
    # 1,500 / 130: 11.538461 shares of a fractionable asset, 11 of one that is not.
    assert fractional.decision.quantity == Decimal("11.538461") and fractional.decision.approved
    assert whole.decision.quantity == Decimal(11) and whole.decision.approved
    await session.execute_decisions()
    assert session.emulator.position_qty("AAPL") == Decimal("11.538461")
    assert session.emulator.position_qty("MSFT") == Decimal(11)
