"""A batch of signals is judged as the same signals one after the other would be, stored in one
transaction, then published in order; a signal decided elsewhere meanwhile is not decided twice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.risk_manager.books import insert_daily_bars, insert_position, signal, wavy_closes
from trader.adapters.db.stores.orders import OrderOrigin, OrderStore
from trader.adapters.db.stores.risk import DecisionRecord, History, RiskStore
from trader.adapters.db.stores.signals import SignalRecord
from trader.adapters.db.stores.system_flags import BarsAppliedStore
from trader.adapters.db.tables import risk_decisions, signals
from trader.core.broker import OrderRequest
from trader.core.events import Event, SignalEmitted
from trader.core.orders import OrderSide
from trader.core.ports import MessageBus
from trader.core.risk.decide import portfolio_snapshot
from trader.core.risk.reasons import ReasonCode
from trader.core.topics import DECISIONS, SIGNALS
from trader.services.risk_manager.handlers import Judgement, RiskManager
from trader.services.risk_manager.worker import GROUP, SignalWorker

PROBE = "probe"


async def seed_books(engine: AsyncEngine, now: datetime) -> None:
    """Daily bars for four symbols and a held IBM position, so holdings, correlations and
    volatility all take part."""
    for index, symbol in enumerate(("AAPL", "MSFT", "IBM", "XOM")):
        closes = wavy_closes(40, start=100.0 + 50 * index, swing=0.01 + 0.002 * index)
        await insert_daily_bars(engine, symbol, closes, now - timedelta(days=1))
    await insert_position(engine, "IBM", Decimal(20), Decimal(190), now - timedelta(days=3))


@pytest.fixture
async def now(manager: RiskManager, engine: AsyncEngine) -> datetime:
    """The manager's (stopped) time, with the books seeded as of it."""
    at = manager.clock.now()
    await seed_books(engine, at)
    return at


def mixed_signals(now: datetime) -> list[SignalEmitted]:
    return [
        signal("AAPL", "buy", Decimal(100), now),
        signal("MSFT", "buy", Decimal(150), now),
        signal("AAPL", "buy", Decimal(100), now, bar_minutes=0),  # within the cooldown: a duplicate
        signal("IBM", "sell", Decimal(200), now),  # closes the holding
        signal("XOM", "flat", Decimal(250), now),  # nothing held: nothing to do
        signal("XOM", "short", Decimal(250), now),  # a short sale (shorting is off)
        signal("MSFT", "buy", Decimal(150), now, strategy_name="other"),
    ]


def outcome(judgement: Judgement) -> tuple[Any, ...]:
    """What a judgement decided, without the ids that differ from one run to the next."""
    record = judgement.decision
    if record is None:
        return (None, judgement.note)
    return (
        record.signal_event_id,
        record.symbol,
        record.side,
        record.quantity,
        record.decision,
        record.reasons,
        record.snapshot,
        record.trading_state,
        record.decided_at,
        judgement.created,
    )


async def forget_decisions(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(risk_decisions))
        await connection.execute(delete(signals))


async def published(bus: MessageBus) -> list[Event]:
    return [delivery.event for delivery in await bus.read(DECISIONS, PROBE, "test", count=100, block_ms=100)]


async def test_a_batch_decides_as_its_signals_one_after_the_other(
    manager: RiskManager, engine: AsyncEngine, now: datetime, bus: MessageBus
) -> None:
    await bus.ensure_group(DECISIONS, PROBE)
    batch = mixed_signals(now)

    together = await manager.judge_batch(batch)
    published_together = await published(bus)
    await forget_decisions(engine)
    one_by_one = [await manager.judge(emitted) for emitted in batch]
    published_one_by_one = await published(bus)

    assert [outcome(judgement) for judgement in together] == [outcome(j) for j in one_by_one]
    decided = [judgement.decision for judgement in together if judgement.decision is not None]
    assert {record.decision for record in decided} == {"approved", "denied"}
    assert len(decided) == 6 and together[4].decision is None
    assert [event.event_id for event in published_together] == [record.decision_id for record in decided]
    assert [type(event) for event in published_together] == [type(e) for e in published_one_by_one]


async def test_holdings_are_marked_and_correlated_as_the_books_hold_them_even_when_opened_meanwhile(
    manager: RiskManager, engine: AsyncEngine, now: datetime
) -> None:
    # AAPL moves with the IBM held: together they exceed the correlated-group limit.
    await manager.update_limits(
        {"max_correlated_pct": "0.06"}, reason="test", changed_by="test", expected_version=None
    )
    batch = [signal("AAPL", "buy", Decimal(100), now), signal("XOM", "flat", Decimal(250), now)]
    books = portfolio_snapshot((await manager.view(now)).portfolio)["positions"]
    assert [entry["symbol"] for entry in books] == ["IBM"]

    marked = await manager.judge_batch(batch)
    await forget_decisions(engine)
    # IBM is not yet held when the batch asks which bars to read, and is held by the books read next.
    manager.store = HoldingsSeenLate(engine)
    opened_meanwhile = await manager.judge_batch(batch)

    decision = marked[0].decision
    assert decision is not None and decision.snapshot["portfolio"]["positions"] == books
    assert ReasonCode.CORRELATION_CONCENTRATION_EXCEEDED.value in decision.codes
    assert [outcome(j) for j in opened_meanwhile] == [outcome(j) for j in marked]


async def test_every_decision_of_a_batch_is_stored_before_any_is_published(
    manager: RiskManager, engine: AsyncEngine, now: datetime, bus: MessageBus
) -> None:
    witness = StoredWhenPublished(bus, engine)
    manager.bus = witness

    judgements = await manager.judge_batch(mixed_signals(now))

    decided = [judgement.decision.decision_id for judgement in judgements if judgement.decision]
    assert witness.published == decided
    assert witness.stored_at_publication == [set(decided)]


async def test_a_redelivered_batch_republishes_its_stored_decisions(
    manager: RiskManager, engine: AsyncEngine, now: datetime, bus: MessageBus
) -> None:
    await bus.ensure_group(DECISIONS, PROBE)
    batch = mixed_signals(now)
    first = await manager.judge_batch(batch)
    again = await manager.judge_batch(batch)

    assert [j.decision for j in again] == [j.decision for j in first]
    assert not any(judgement.created for judgement in again)
    assert await count(engine, risk_decisions) == 6
    events = await published(bus)
    assert [event.event_id for event in events[6:]] == [event.event_id for event in events[:6]]


async def test_a_signal_decided_elsewhere_meanwhile_is_not_decided_twice(
    manager: RiskManager, engine: AsyncEngine, now: datetime
) -> None:
    batch = mixed_signals(now)
    elsewhere = RiskManager(**{**vars(manager), "store": RiskStore(engine)})
    manager.store = RacedStore(engine, lambda: elsewhere.judge(batch[1]))

    judgements = await manager.judge_batch(batch)

    (other,) = (await elsewhere.store.decisions_for_signals([batch[1].event_id])).values()
    assert judgements[1].decision == other and not judgements[1].created
    assert all(j.created for index, j in enumerate(judgements) if j.decision and index != 1)
    assert await count(engine, risk_decisions) == 6
    # MSFT was decided on books without AAPL's decision; AAPL is judged again on books with MSFT's.
    assert other.approved and other.snapshot["portfolio"]["trades_today"] == 0
    assert judgements[0].decision is not None
    assert judgements[0].decision.snapshot["portfolio"]["trades_today"] == 1


async def test_signals_arriving_while_the_batch_waits_for_the_executor_join_it(
    manager: RiskManager, engine: AsyncEngine, now: datetime, bus: MessageBus
) -> None:
    first, second = signal("AAPL", "buy", Decimal(100), now), signal("MSFT", "buy", Decimal(150), now)
    await insert_daily_bars(engine, "AAPL", [Decimal(100)], first.bar_at)
    applied = BarsAppliedStore(engine)
    await applied.record("AAPL", first.bar_at - timedelta(minutes=1), now)
    await bus.ensure_group(SIGNALS, GROUP)
    await bus.publish(SIGNALS, first)
    worker = SignalWorker(manager, bus, consumer="worker-1")
    store = manager.store = ReadingsCounted(engine)
    running = asyncio.create_task(worker.run_once(block_ms=1000))
    await asyncio.sleep(0.3)
    assert not running.done()  # waiting for the executor to apply AAPL's bar
    await bus.publish(SIGNALS, second)
    await applied.record("AAPL", first.bar_at, now)

    assert await asyncio.wait_for(running, timeout=10) == 2
    assert store.readings == 1  # both judged on one reading of the books
    assert await count(engine, risk_decisions) == 2


class StoredWhenPublished:
    """A bus that notes, whenever decisions are published, which decisions are stored by then."""

    def __init__(self, bus: MessageBus, engine: AsyncEngine) -> None:
        self._bus = bus
        self._engine = engine
        self.published: list[str] = []
        self.stored_at_publication: list[set[str]] = []

    async def publish_many(self, topic: str, events: Sequence[Event]) -> list[str]:
        if topic == DECISIONS:
            async with self._engine.connect() as connection:
                stored = await connection.execute(select(risk_decisions.c.decision_id))
                self.stored_at_publication.append({row.decision_id for row in stored})
            self.published += [event.event_id for event in events]
        return await self._bus.publish_many(topic, events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


class ReadingsCounted(RiskStore):
    """Counts the readings of the recent bars: one per batch judged."""

    readings = 0

    async def recent_history(self, symbols: Sequence[str], *, at: datetime, count: int) -> dict[str, History]:
        self.readings += 1
        return await super().recent_history(symbols, at=at, count=count)


class HoldingsSeenLate(RiskStore):
    """Answers that nothing is held, as if the positions opened just after the question."""

    async def held_symbols(self) -> list[str]:
        return []


class RacedStore(RiskStore):
    """Another worker decides one of the batch's signals just before the batch is stored."""

    def __init__(self, engine: AsyncEngine, race: Any) -> None:
        super().__init__(engine)
        self._race = race

    async def record_decisions(
        self, entries: Sequence[tuple[DecisionRecord, SignalRecord | None]]
    ) -> dict[str, DecisionRecord]:
        if self._race is not None:
            race, self._race = self._race, None
            await race()
        return await super().record_decisions(entries)


async def count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def test_an_approval_whose_order_is_recorded_after_the_reading_still_counts_as_a_trade(
    manager: RiskManager, engine: AsyncEngine, now: datetime
) -> None:
    """The executor records a batch of orders while the risk manager reads its books as of `now`:
    an order stamped after `now` is not placed yet at `now`, so its approval must count as one."""
    (first,) = await manager.judge_batch([signal("AAPL", "buy", Decimal(100), now)])
    assert first.decision is not None and first.decision.approved
    request = OrderRequest(
        client_order_id="recorded-late", symbol="AAPL", side=OrderSide.BUY, quantity=first.decision.quantity
    )
    await OrderStore(engine).create_intent(
        request,
        broker="simulated",
        created_at=now + timedelta(seconds=1),
        origin=OrderOrigin(decision_id=first.decision.decision_id),
    )

    (second,) = await manager.judge_batch([signal("MSFT", "buy", Decimal(150), now)])

    assert second.decision is not None
    assert second.decision.snapshot["portfolio"]["trades_today"] == 1
