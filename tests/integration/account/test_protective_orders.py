"""A paper session's protective orders: the risk manager gives an entry its stop-loss and take-profit
(the signal's, else RISK_STOP_LOSS_PCT / RISK_TAKE_PROFIT_PCT), the executor sends it to the
emulated Alpaca as a bracket, a stop hit closes the position in both books; a stop on the wrong side
of the price is denied with its own code and nothing reaches the broker."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.integration.account.conftest import PaperSession
from tests.integration.risk_manager.books import signal
from trader.adapters.db.tables import risk_decisions
from trader.core.broker import OrderClass
from trader.core.orders import OrderStatus, OrderType
from trader.core.risk.reasons import ReasonCode
from trader.services.risk_manager.handlers import Judgement


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"risk_stop_loss_pct": Decimal("0.05"), "risk_take_profit_pct": Decimal("0.10")}


async def _judge(
    session: PaperSession, stop: Decimal | None = None, target: Decimal | None = None
) -> Judgement:
    emitted = replace(
        signal("AAPL", "buy", Decimal(100), session.clock.now()), stop_price=stop, target_price=target
    )
    return await session.manager.judge(emitted)


async def test_the_settings_levels_go_as_a_bracket_and_a_stop_hit_closes_the_position_in_both_books(
    session: PaperSession,
) -> None:
    await session.recorder.record("start")
    judgement = await _judge(session)
    record = judgement.decision
    assert record is not None and record.approved, record
    assert (record.snapshot["order"]["stop_loss_price"], record.snapshot["order"]["take_profit_price"]) == (
        "95.00",
        "110.00",
    )
    await session.execute_decisions()
    assert session.emulator.position_qty("AAPL") == 15
    rows = await session.executor.orders.recent(limit=10)
    (entry,) = [row for row in rows if row.parent_trade_id is None]
    legs = {row.order_type: row for row in rows if row.parent_trade_id == entry.id}
    assert entry.order_class is OrderClass.BRACKET
    assert (legs[OrderType.STOP].stop_price, legs[OrderType.LIMIT].limit_price) == (Decimal(95), Decimal(110))
    assert {leg.status for leg in legs.values()} == {OrderStatus.ACCEPTED}
    assert session.emulator.order_status(legs[OrderType.STOP].broker_order_id or "") == "new"

    session.emulator.set_price("AAPL", Decimal("94.50"))
    session.emulator.fill_pending()
    await session.executor.reconcile()

    assert session.emulator.position_qty("AAPL") == 0
    assert session.emulator.order_status(legs[OrderType.LIMIT].broker_order_id or "") == "canceled"
    books = {p.symbol: p.position.quantity for p in await session.executor.positions.all(include_flat=True)}
    assert books.get("AAPL", Decimal(0)) == 0
    after = {row.id: row for row in await session.executor.orders.recent(limit=10)}
    assert after[legs[OrderType.STOP].id].status is OrderStatus.FILLED
    assert after[legs[OrderType.STOP].id].average_fill_price == Decimal("94.50")
    assert after[legs[OrderType.LIMIT].id].status is OrderStatus.CANCELED


async def test_the_signals_own_levels_come_before_the_settings(session: PaperSession) -> None:
    await session.recorder.record("start")
    record = (await _judge(session, Decimal(97), Decimal(104))).decision
    assert record is not None and record.approved, record
    await session.execute_decisions()
    rows = await session.executor.orders.recent(limit=10)
    levels = {(row.order_type, row.stop_price or row.limit_price) for row in rows if row.parent_trade_id}
    assert levels == {(OrderType.STOP, Decimal(97)), (OrderType.LIMIT, Decimal(104))}


@pytest.mark.parametrize(
    ("stop", "target", "words"),
    [
        (Decimal(105), Decimal(110), "stop-loss 105 is not below the price 100"),
        (Decimal(95), Decimal(99), "take-profit 99 is not above the price 100"),
    ],
)
async def test_a_level_on_the_wrong_side_is_denied_with_its_code_and_nothing_is_sent(
    session: PaperSession, stop: Decimal, target: Decimal, words: str
) -> None:
    await session.recorder.record("start")
    record = (await _judge(session, stop, target)).decision
    assert record is not None and not record.approved
    assert ReasonCode.PROTECTIVE_LEVEL_WRONG_SIDE.value in record.codes, record.reasons
    assert any(words in reason for reason in record.reasons), record.reasons
    assert await session.execute_decisions() == []
    assert session.emulator.order_count() == 0
    async with session.engine.connect() as connection:
        stored = (await connection.execute(select(risk_decisions.c.decision, risk_decisions.c.reasons))).all()
    assert len(stored) == 1 and stored[0].decision != "approved"
    assert any(reason.startswith("PROTECTIVE_LEVEL_WRONG_SIDE: AAPL") for reason in stored[0].reasons)


@pytest.mark.parametrize("settings_overrides", [{"risk_stop_loss_pct": Decimal("0.05")}])
async def test_a_stop_loss_setting_alone_sends_an_oto_with_its_stop(session: PaperSession) -> None:
    await session.recorder.record("start")
    record = (await _judge(session)).decision
    assert record is not None and record.approved, record
    assert record.snapshot["order"]["take_profit_price"] is None
    await session.execute_decisions()
    rows = await session.executor.orders.recent(limit=10)
    (entry,) = [row for row in rows if row.parent_trade_id is None]
    (leg,) = [row for row in rows if row.parent_trade_id == entry.id]
    assert entry.order_class is OrderClass.OTO and (leg.order_type, leg.stop_price) == (
        OrderType.STOP,
        Decimal(95),
    )
    session.emulator.set_price("AAPL", Decimal(94))
    session.emulator.fill_pending()
    await session.executor.reconcile()
    assert session.emulator.position_qty("AAPL") == 0
    after = {row.id: row for row in await session.executor.orders.recent(limit=10)}
    assert after[leg.id].status is OrderStatus.FILLED


async def test_a_protected_entry_in_a_fractionable_asset_is_sized_in_whole_shares(
    session: PaperSession,
) -> None:
    # Alpaca takes fractional quantities only in simple DAY orders: a bracket of 11.538461 shares
    # would be refused (the emulator refuses it as Alpaca does).
    session.emulator.set_price("AAPL", Decimal(130))
    assert await session.recorder.learn_assets() == (2, 2)
    await session.recorder.record("start")
    emitted = signal("AAPL", "buy", Decimal(130), session.clock.now())
    record = (await session.manager.judge(emitted)).decision
    assert record is not None and record.approved, record
    assert record.quantity == Decimal(11)
    await session.execute_decisions()
    assert session.emulator.position_qty("AAPL") == Decimal(11)
    rows = await session.executor.orders.recent(limit=10)
    assert sorted(row.order_type.value for row in rows if row.parent_trade_id is not None) == [
        "limit",
        "stop",
    ]
