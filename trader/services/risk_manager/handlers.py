"""The risk manager's use cases: judge a signal, show the figures, change limits and trading state.

A signal becomes at most one recorded decision. The order of work for a signal is fixed:
breakers first (a portfolio already past its drawdown limit is judged HALTED, not ACTIVE), then
sizing and the rules, then the decision is stored with every reason and the portfolio it was
judged on, and only then published. A redelivered signal finds its stored decision and publishes
that one again (same event id), so the executor never sees two decisions for one signal.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from trader.adapters.db.stores.assets import BrokerAssetStore
from trader.adapters.db.stores.risk import (
    APPROVED,
    DENIED,
    Books,
    DecisionRecord,
    DrawdownBaseline,
    History,
    LimitsVersion,
    RiskStore,
)
from trader.adapters.db.stores.signals import SignalRecord, signal_record
from trader.adapters.db.stores.system_flags import BarsAppliedStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.core.events import OrderApproved, OrderDenied, SignalEmitted
from trader.core.money import to_cash
from trader.core.orders import OrderType
from trader.core.portfolio import Portfolio, reset_peak
from trader.core.ports import Clock, MessageBus
from trader.core.risk.account_rules import makes_day_trade
from trader.core.risk.context import RiskContext
from trader.core.risk.decide import (
    SUPPORTED_SIZING,
    Judged,
    SizingSettings,
    decision_snapshot,
    holdings_at,
    judge_signal,
    market_context,
    portfolio_snapshot,
    recorded_day_start_equity,
    with_counts,
)
from trader.core.risk.limits import InvalidRiskLimitsError, RiskLimits
from trader.core.risk.market_figures import CloseTable, day_started_at, market_session, portfolio_var
from trader.core.risk.metrics import measure, position_limits
from trader.core.risk.state import (
    DEFAULT_BREAKERS,
    StateChange,
    StateChangeError,
    TradingState,
    apply_breakers,
    breaker_state,
    emergency_shutdown,
    reduce_only,
    resume,
)
from trader.core.sessions import MarketCalendar
from trader.core.topics import DECISIONS, TRADING_STATE
from trader.services.common.metrics import RiskMetrics
from trader.services.risk_manager.account import account_facts, broker_figures
from trader.services.risk_manager.breakers import BreakerActions

__all__ = [
    "SUPPORTED_SIZING",
    "Judgement",
    "LimitsChangeError",
    "RiskManager",
    "SizingSettings",
    "StateConflictError",
    "View",
    "build_portfolio",
    "portfolio_snapshot",
]

log = logging.getLogger(__name__)

ENVIRONMENT_ACTOR = "environment"
EXECUTOR_POLL_SECONDS = 0.05


class LimitsChangeError(ValueError):
    """A limits change refused before anything was written; the message says why."""


class StateConflictError(ValueError):
    """A state change that cannot be made now (a breaker still holds); the message says what to do."""


@dataclass(frozen=True, slots=True)
class Judgement:
    """A signal's outcome: the stored decision, or why no order was proposed."""

    decision: DecisionRecord | None
    created: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class View:
    """The portfolio and context as of now, for the read endpoints."""

    portfolio: Portfolio
    context: RiskContext
    limits: LimitsVersion
    trading_state: StateChange | None


@dataclass(slots=True)
class _BatchBooks:
    """What a batch is judged on: fixed for the batch (the time, limits, holdings and their recent
    bars), or moved by its own decisions and breakers (the books, their portfolio, the state)."""

    now: datetime
    view: View
    books: Books
    portfolio: Portfolio
    state: TradingState
    held: tuple[str, ...]
    history: Mapping[str, History]
    closes: CloseTable
    account_max_age: timedelta | None = None
    # Day trades this batch approved (not in any fill yet): the guard counts them too.
    day_trades_approved: int = 0
    contexts: dict[tuple[TradingState, int], RiskContext] = field(default_factory=dict)

    def context(self) -> RiskContext:
        """The context in the trading state now, with the day trades the batch approved; made once
        per (state, day trades) (it copies the sector map)."""
        key = (self.state, self.day_trades_approved)
        if key not in self.contexts:
            facts = account_facts(self.books, self.account_max_age, self.day_trades_approved)
            self.contexts[key] = replace(self.view.context, trading_state=self.state, account=facts)
        return self.contexts[key]


def _money(value: Decimal) -> str:
    return format(to_cash(value).quantize(Decimal("0.01")), "f")


def _level(raw: Any) -> Decimal | None:
    return None if raw is None else Decimal(str(raw))


def _ratio(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.000001")), "f")


def build_portfolio(books: Books, at: datetime, starting_cash: Decimal) -> Portfolio:
    """The books as a Portfolio: peak since the last drawdown baseline, today's starting equity."""
    holdings = holdings_at(at, cash=books.cash, positions=books.positions, marks=books.marks)
    return with_book_counts(books, holdings, starting_cash)


def with_book_counts(books: Books, holdings: Portfolio, starting_cash: Decimal) -> Portfolio:
    """`build_portfolio(books)` for books whose cash, positions and marks are `holdings`' (a batch
    re-derives its portfolio after each decision without summing the holdings again)."""
    return with_counts(
        holdings,
        trades_today=books.trades_today,
        last_signal_at=books.last_signal_at,
        starting_cash=starting_cash,
        snapshot_peak_equity=books.snapshot_peak_equity,
        has_snapshots=books.has_snapshots,
        baseline_equity=None if books.baseline is None else books.baseline.equity,
        previous_day_equity=books.previous_day_equity,
        first_decision_day_start_equity=books.first_decision_day_start_equity,
        broker_day_start_equity=books.broker_day_start_equity,
    )


class RiskManager:
    def __init__(
        self,
        *,
        store: RiskStore,
        states: TradingStateStore,
        bus: MessageBus,
        clock: Clock,
        calendar: MarketCalendar,
        sectors: Mapping[str, str],
        default_limits: RiskLimits,
        sizing: SizingSettings,
        starting_cash: Decimal,
        lookback_bars: int = 60,
        metrics: RiskMetrics | None = None,
        bars_applied: BarsAppliedStore | None = None,
        executor_wait_seconds: float = 30.0,
        account_max_age: timedelta | None = None,
        breakers: BreakerActions | None = None,
        assets: BrokerAssetStore | None = None,
    ) -> None:
        self.store = store
        self.states = states
        self.bus = bus
        self.clock = clock
        self.calendar = calendar
        self.sectors = dict(sectors)
        self.default_limits = default_limits
        self.sizing = sizing
        self.starting_cash = starting_cash
        self.lookback_bars = lookback_bars
        self.metrics = metrics
        self.bars_applied = bars_applied
        self.executor_wait_seconds = executor_wait_seconds
        # None with the simulated broker, whose account is the books' own (see AccountFacts).
        self.account_max_age = account_max_age
        self.breakers = breakers or BreakerActions(DEFAULT_BREAKERS, bus)
        self.assets = assets

    def _count(self, record: DecisionRecord) -> None:
        if self.metrics is None:
            return
        if record.approved:
            self.metrics.risk_approvals.inc()
        for code in record.codes:
            self.metrics.risk_denials.labels(code).inc()

    def _show_state(self, state: TradingState) -> None:
        if self.metrics is not None:
            self.metrics.set_trading_state(state.value)

    # Limits

    async def prepare(self) -> LimitsVersion:
        """Make sure a limits version exists: the environment's defaults, written once.

        When the newest version came from the environment and the environment now says something
        else, the environment still owns the limits and a new version records the change; a version
        a person wrote through the API is never overridden by the environment.
        """
        current = await self.store.current_limits()
        now = self.clock.now()
        if current is None:
            return await self.store.record_limits(
                self.default_limits,
                updated_by=ENVIRONMENT_ACTOR,
                reason="defaults from the environment (RISK_* variables)",
                updated_at=now,
                expected_version=None,
            )
        if current.limits == self.default_limits:
            return current
        if current.updated_by == ENVIRONMENT_ACTOR:
            return await self.store.record_limits(
                self.default_limits,
                updated_by=ENVIRONMENT_ACTOR,
                reason="the RISK_* environment variables changed",
                updated_at=now,
                expected_version=current.version,
            )
        log.warning(
            "risk limits version %d (set by %s) differ from the RISK_* environment; the stored version"
            " applies. Change limits with PUT /risk/limits",
            current.version,
            current.updated_by,
        )
        return current

    async def limits(self) -> LimitsVersion:
        current = await self.store.current_limits()
        return current if current is not None else await self.prepare()

    async def update_limits(
        self, changes: Mapping[str, Any], *, reason: str, changed_by: str, expected_version: int | None
    ) -> LimitsVersion:
        if not reason.strip():
            raise LimitsChangeError("a limits change needs a reason")
        if not changes:
            raise LimitsChangeError("no limits given to change")
        current = await self.limits()
        if expected_version is not None and expected_version != current.version:
            raise LimitsChangeError(
                f"the limits are at version {current.version}, not {expected_version}; read them again"
            )
        payload = current.limits.to_dict()
        payload.update(changes)
        try:
            limits = RiskLimits.from_dict(payload)
        except (InvalidRiskLimitsError, TypeError) as error:
            raise LimitsChangeError(str(error)) from error
        if limits == current.limits:
            raise LimitsChangeError("the new limits equal the current ones; nothing to change")
        return await self.store.record_limits(
            limits,
            updated_by=changed_by,
            reason=reason.strip(),
            updated_at=self.clock.now(),
            expected_version=current.version,
        )

    # Trading state

    async def trading_state(self) -> TradingState:
        state = await self.states.current_state()
        self._show_state(state)
        return state

    async def _record_state(self, change: StateChange) -> None:
        await self.states.record(change)
        self._show_state(change.state)
        await self.bus.publish(TRADING_STATE, change.to_event())
        log.warning(
            "trading state %s -> %s by %s: %s",
            change.previous_state.value,
            change.state.value,
            change.changed_by,
            change.reason,
        )

    async def change_state(self, target: TradingState, *, reason: str, changed_by: str) -> StateChange:
        """A person's change. Escalations are always allowed; stepping down needs the breakers to
        agree, and stepping down from a drawdown halt measures drawdown from equity now."""
        current = await self.trading_state()
        now = self.clock.now()
        if target is TradingState.HALTED:
            change = emergency_shutdown(current, reason, changed_by, now)
        elif target.severity > current.severity:
            change = reduce_only(current, reason, changed_by, now)
        elif target is current:
            raise StateChangeError(f"trading is already {current.value}")
        else:
            change = resume(current, reason, changed_by, now, target)
            view = await self.view(now)
            portfolio = view.portfolio
            limits, policy = view.limits.limits, self.breakers.policy
            demanded, why = breaker_state(portfolio, limits, policy)
            acknowledges_drawdown = portfolio.drawdown >= limits.max_drawdown_pct
            if acknowledges_drawdown:
                portfolio = reset_peak(portfolio)
                demanded, why = breaker_state(portfolio, limits, policy)
            if demanded.severity > target.severity:
                raise StateConflictError(
                    f"cannot resume to {target.value}: a breaker still holds ({why}); resume to "
                    f"{demanded.value}, raise the limit, or wait for the next trading day"
                )
            if acknowledges_drawdown:
                await self.store.set_drawdown_baseline(
                    DrawdownBaseline(portfolio.equity, now, change.changed_by, change.reason)
                )
        await self._record_state(change)
        return change

    async def check_breakers(self) -> StateChange | None:
        """Trip a breaker on the books now, without waiting for a signal (run on a timer, so a loss
        on the broker's account moves the trading state while no strategy is signalling)."""
        view = await self.view()
        change = apply_breakers(
            view.context.trading_state,
            view.portfolio,
            view.limits.limits,
            view.context.evaluated_at,
            self.breakers.policy,
        )
        if change is not None:
            await self._record_state(change)
            await self.breakers.tripped(change)
        return change

    # Reading the books

    async def view(self, at: datetime | None = None) -> View:
        view, _books = await self._view_and_books(at, signal_keys=())
        return view

    async def _view_and_books(
        self,
        at: datetime | None,
        signal_keys: tuple[tuple[str, str], ...],
        closes: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
    ) -> tuple[View, Books]:
        moment = at or self.clock.now()
        limits = await self.limits()
        books = await self.store.load_books(
            at=moment,
            day_started_at=day_started_at(moment),
            starting_cash=self.starting_cash,
            signal_keys=signal_keys,
            newest_closes=closes,
        )
        portfolio = build_portfolio(books, moment, self.starting_cash)
        change = await self.states.current()
        state = change.state if change else TradingState.ACTIVE
        # The state may have been changed elsewhere (the maintenance service): keep the gauge true.
        self._show_state(state)
        context = RiskContext(
            evaluated_at=moment,
            session=market_session(self.calendar, moment),
            trading_state=state,
            buying_power=books.buying_power,
            sectors=self.sectors,
            account=account_facts(books, self.account_max_age),
        )
        return View(portfolio, context, limits, change), books

    # Judging signals

    async def judge(self, signal: SignalEmitted) -> Judgement:
        """One signal, judged as a batch of one."""
        (judgement,) = await self.judge_batch([signal])
        return judgement

    async def judge_batch(self, batch: Sequence[SignalEmitted]) -> list[Judgement]:
        """Judge signals in order, as one after the other would be, on one reading of the books.

        Between two decisions only what a decision itself changes moves (nothing fills until the
        executor applies the next bars, which the wait below orders before judging): the day's
        trade count, the last signal judged per strategy and symbol, and the day-start equity the
        first decision of the day records. Those are carried forward in memory and every breaker is
        checked before each decision, so each decision equals the sequential one. The batch's
        decisions are stored in one transaction and only then published, in the batch's order; a
        signal that already has a decision gets that one published again (same event id)."""
        if not batch:
            return []
        while True:
            judgements = await self._judge_once(batch)
            if judgements is not None:
                return judgements
            # Another worker stored a decision for one of these signals meanwhile: judge again on
            # the books that include it. Each pass finds at least one more stored decision.

    async def _judge_once(self, batch: Sequence[SignalEmitted]) -> list[Judgement] | None:
        """The batch's judgements once stored and published; None when nothing was stored because
        another worker decided one of the signals first."""
        stored = await self.store.decisions_for_signals([signal.event_id for signal in batch])
        fresh = [signal for signal in batch if signal.event_id not in stored]
        await self.wait_for_executor(fresh)
        books: _BatchBooks | None = None
        judgements: list[Judgement] = []
        new: list[tuple[DecisionRecord, SignalRecord]] = []
        for signal in batch:
            existing = stored.get(signal.event_id)
            if existing is not None:
                # The same signal twice in one batch is decided once, like a redelivery.
                judgements.append(Judgement(existing, created=False))
                continue
            if books is None:
                books = await self._batch_books(fresh)
            judgement = await self._judge_fresh(signal, books)
            judgements.append(judgement)
            if judgement.decision is not None:
                stored[signal.event_id] = judgement.decision
                new.append((judgement.decision, signal_record(signal)))
        if await self.store.record_decisions(new):
            return None
        await self._publish([judgement.decision for judgement in judgements if judgement.decision])
        for judgement in judgements:
            if judgement.created and judgement.decision is not None:
                self._count(judgement.decision)
                self._log(judgement.decision)
        return judgements

    async def _batch_books(self, fresh: Sequence[SignalEmitted]) -> _BatchBooks:
        """The books, the trading state and the recent bars the batch's signals are judged on."""
        now = self.clock.now()
        keys = tuple(dict.fromkeys((signal.strategy_name, signal.symbol) for signal in fresh))
        # The recent bars first: the signals' symbols' bars, the holdings' closes (the closes alone
        # convert half the columns). The holdings' newest closes mark them, so the books need not
        # read them again.
        count = self.lookback_bars
        history = await self.store.recent_history(sorted({s.symbol for s in fresh}), at=now, count=count)
        closes = {symbol: recent.closes for symbol, recent in history.items()}
        held_only = [symbol for symbol in await self.store.held_symbols() if symbol not in closes]
        closes.update(await self.store.recent_closes(held_only, at=now, count=count))
        view, books = await self._view_and_books(now, keys, closes)
        if await self._adopt_resume(view):
            view, books = await self._view_and_books(now, keys, closes)
        if self.assets is not None:
            known = await self.assets.of(sorted({signal.symbol for signal in fresh}))
            view = replace(
                view,
                context=replace(
                    view.context,
                    shortable={symbol: asset.shortable for symbol, asset in known.items()},
                    fractionable={symbol: asset.fractionable for symbol, asset in known.items()},
                ),
            )
        held = tuple(position.symbol for position in view.portfolio.open_positions)
        if opened := [symbol for symbol in held if symbol not in closes]:
            # A position opened between the two reads.
            closes.update(await self.store.recent_closes(opened, at=now, count=count))
        return _BatchBooks(
            now=now,
            view=view,
            books=books,
            portfolio=view.portfolio,
            state=view.context.trading_state,
            held=held,
            history=history,
            closes=CloseTable(closes),
            account_max_age=self.account_max_age,
        )

    async def _judge_fresh(self, signal: SignalEmitted, batch: _BatchBooks) -> Judgement:
        """Judge one signal of the batch on its books and carry its decision into them."""
        limits = batch.view.limits.limits
        change = apply_breakers(batch.state, batch.portfolio, limits, batch.now, self.breakers.policy)
        if change is not None:
            await self._record_state(change)
            await self.breakers.tripped(change)
            batch.state = change.state
        recent = batch.history[signal.symbol]
        context, facts = market_context(
            batch.context(),
            signal.symbol,
            batch.closes.only([signal.symbol, *batch.held]),
            recent.timeframe,
            recent.bars,
        )
        judged = judge_signal(signal, batch.portfolio, context, limits, self.sizing, self.calendar, facts)
        record = self._decision_record(signal, judged, batch)
        if record is None:
            held = batch.portfolio.position(signal.symbol).quantity
            note = f"{signal.direction} {signal.symbol}: the position held ({held}) is the target already"
            log.info("signal %s from %s: %s; nothing sent", signal.event_id, signal.strategy_name, note)
            if self.metrics is not None:
                self.metrics.risk_signals_at_target.labels(signal.direction).inc()
            return Judgement(None, created=False, note=note)
        if record.approved and judged.proposal is not None:
            batch.day_trades_approved += makes_day_trade(judged.proposal, batch.portfolio, context)
        batch.books = self._after_decision(batch.books, record, signal, batch.portfolio)
        batch.portfolio = with_book_counts(batch.books, batch.portfolio, self.starting_cash)
        return Judgement(record, created=True)

    @staticmethod
    def _decision_record(signal: SignalEmitted, judged: Judged, batch: _BatchBooks) -> DecisionRecord | None:
        """The decision to store; None when the signal asks nothing of the position held."""
        proposal, decision = judged.proposal, judged.decision
        if proposal is None or decision is None:
            return None
        return DecisionRecord(
            decision_id=str(uuid.uuid4()),
            signal_event_id=signal.event_id,
            strategy_name=signal.strategy_name,
            symbol=proposal.symbol,
            side=proposal.side.value,
            quantity=proposal.quantity,
            price=proposal.reference_price,
            notional=proposal.notional,
            decision=APPROVED if decision.approved else DENIED,
            reasons=decision.reasons,
            snapshot=decision_snapshot(judged, batch.portfolio),
            risk_parameters_version=batch.view.limits.version,
            trading_state=judged.context.trading_state.value,
            decided_at=batch.now,
            equity=batch.portfolio.equity,
        )

    @staticmethod
    def _log(record: DecisionRecord) -> None:
        log.info(
            "%s %s %s %s (%s)%s",
            record.decision,
            record.side,
            record.quantity,
            record.symbol,
            record.strategy_name,
            f": {'; '.join(record.reasons)}" if record.reasons else "",
        )

    @staticmethod
    def _after_decision(
        books: Books, record: DecisionRecord, signal: SignalEmitted, portfolio: Portfolio
    ) -> Books:
        """The books as `load_books` reads them once this decision is stored."""
        key = (signal.strategy_name, signal.symbol)
        last = dict(books.last_signal_at)
        last[key] = max(signal.bar_at, last.get(key, signal.bar_at))
        first_day_start = books.first_decision_day_start_equity
        if first_day_start is None:
            first_day_start = recorded_day_start_equity(portfolio)
        return replace(
            books,
            trades_today=books.trades_today + (1 if record.approved else 0),
            last_signal_at=last,
            first_decision_day_start_equity=first_day_start,
        )

    async def wait_for_executor(self, signals: Sequence[SignalEmitted]) -> None:
        """With a simulated broker fed the replayed bars, wait until the executor has matched the
        signals' sessions' bars and recorded their fills: the bars reach it and the strategy engine
        at the same time, and judging before the fills are in would size on the previous session's
        cash. Each bar time waits at most `executor_wait_seconds`."""
        for bar_at in sorted({signal.bar_at for signal in signals}):
            await self._wait_for_bars(bar_at)

    async def _wait_for_bars(self, bar_at: datetime) -> None:
        if self.bars_applied is None:
            return
        deadline = time.monotonic() + self.executor_wait_seconds
        while True:
            pending = await self.bars_applied.not_applied(bar_at)
            if not pending:
                # All applied, or no executor applies bars (a real broker): fills arrive when they arrive.
                return
            if time.monotonic() >= deadline:
                log.warning(
                    "signals of %s judged before the executor applied the %s bars (waited %.0fs); "
                    "the books may miss that session's fills",
                    bar_at.isoformat(),
                    ", ".join(pending),
                    self.executor_wait_seconds,
                )
                return
            await asyncio.sleep(EXECUTOR_POLL_SECONDS)

    async def _adopt_resume(self, view: View) -> bool:
        """A resume from a drawdown halt made elsewhere (the maintenance service) acknowledges the
        drawdown too: measure it from equity now, as `change_state` does, or the breaker would halt
        again at once. True when a baseline was set."""
        change = view.trading_state
        if change is None or change.state.severity >= change.previous_state.severity:
            return False
        if change.previous_state is not self.breakers.policy.drawdown_state:
            return False
        baseline = await self.store.drawdown_baseline()
        if baseline is not None and baseline.set_at >= change.changed_at:
            return False
        if view.portfolio.drawdown < view.limits.limits.max_drawdown_pct:
            return False
        await self.store.set_drawdown_baseline(
            DrawdownBaseline(view.portfolio.equity, change.changed_at, change.changed_by, change.reason)
        )
        log.warning(
            "drawdown now measured from equity %s: %s resumed trading at %s (%s)",
            _money(view.portfolio.equity),
            change.changed_by,
            change.changed_at.isoformat(),
            change.reason,
        )
        return True

    async def _publish(self, records: Sequence[DecisionRecord]) -> None:
        if records:
            await self.bus.publish_many(DECISIONS, [self._event(record) for record in records])

    @staticmethod
    def _event(record: DecisionRecord) -> OrderApproved | OrderDenied:
        # The event id is the decision id, so a republished decision is recognisably the same event.
        if record.approved:
            order = record.snapshot.get("order", {})
            limit_price = order.get("limit_price")
            return OrderApproved(
                event_id=record.decision_id,
                occurred_at=record.decided_at,
                signal_event_id=record.signal_event_id or "",
                decision_id=record.decision_id,
                symbol=record.symbol,
                side=record.side,
                quantity=record.quantity,
                order_type=order.get("order_type", OrderType.MARKET.value),
                limit_price=None if limit_price is None else Decimal(limit_price),
                strategy_name=record.strategy_name or "",
                stop_loss_price=_level(order.get("stop_loss_price")),
                take_profit_price=_level(order.get("take_profit_price")),
            )
        return OrderDenied(
            event_id=record.decision_id,
            occurred_at=record.decided_at,
            signal_event_id=record.signal_event_id or "",
            decision_id=record.decision_id,
            symbol=record.symbol,
            side=record.side,
            reasons=record.reasons,
            strategy_name=record.strategy_name or "",
        )

    # Read endpoints

    async def current_metrics(self) -> dict[str, Any]:
        view, books = await self._view_and_books(None, signal_keys=())
        portfolio = view.portfolio
        metrics = measure(portfolio, view.context)
        held = [p.symbol for p in portfolio.open_positions]
        closes = await self.store.recent_closes(held, at=view.context.evaluated_at, count=self.lookback_bars)
        var = portfolio_var(portfolio, closes)
        limits = view.limits.limits
        largest = max((portfolio.exposure_of(symbol) for symbol in held), default=Decimal(0))
        return {
            "as_of": view.context.evaluated_at.isoformat(),
            "trading_state": view.context.trading_state.value,
            "market_session": view.context.session.value,
            # The broker's own account, as last read; equity and cash below are the books' now
            # (that reading moved on by the fills since, positions at the stored closes).
            "broker": broker_figures(books),
            "equity": _money(metrics.equity),
            "cash": _money(metrics.cash),
            "buying_power": None if view.context.buying_power is None else _money(view.context.buying_power),
            "gross_exposure": _money(metrics.gross_exposure),
            "net_exposure": _money(metrics.net_exposure),
            "gross_exposure_pct": _ratio(metrics.gross_exposure_share),
            "open_positions": metrics.open_positions,
            "peak_equity": _money(portfolio.peak_equity),
            "drawdown_pct": _ratio(metrics.drawdown),
            "day_start_equity": _money(portfolio.day_start_equity),
            "daily_pnl": _money(metrics.daily_pnl),
            "daily_return_pct": _ratio(metrics.daily_return),
            "trades_today": metrics.trades_today,
            "var_95": {
                "confidence": var.confidence,
                "pct_of_equity": None if var.fraction is None else _ratio(var.fraction),
                "amount": None if var.amount is None else _money(var.amount),
                "observations": var.observations,
                "method": "historical, current holdings over stored closes",
            },
            "concentration": {
                "largest_position_pct": _ratio(largest / metrics.equity) if metrics.equity > 0 else None,
                "sectors": {sector: _ratio(share) for sector, share in metrics.sector_shares.items()},
            },
            "limits": {
                "version": view.limits.version,
                "max_drawdown_pct": str(limits.max_drawdown_pct),
                "daily_loss_limit_pct": str(limits.daily_loss_limit_pct),
                "max_gross_exposure_pct": str(limits.max_gross_exposure_pct),
            },
        }

    async def position_limits(self) -> dict[str, Any]:
        view = await self.view()
        limits = view.limits.limits
        rows = position_limits(view.portfolio, limits)
        metrics = measure(view.portfolio, view.context)
        equity = view.portfolio.equity
        return {
            "as_of": view.context.evaluated_at.isoformat(),
            "equity": _money(equity),
            "trading_state": view.context.trading_state.value,
            "max_position_pct": str(limits.max_position_pct),
            "max_open_positions": limits.max_open_positions,
            "open_positions": len(rows),
            "positions": [
                {
                    "symbol": row.symbol,
                    "sector": view.context.sector_of(row.symbol),
                    "quantity": format(row.quantity.normalize(), "f"),
                    "market_value": _money(row.market_value),
                    "current_pct": _ratio(row.share_of_equity),
                    "limit_pct": str(row.limit),
                    "headroom_value": _money(row.headroom),
                    "headroom_pct": _ratio(max(row.limit - row.share_of_equity, Decimal(0))),
                }
                for row in rows
            ],
            "sectors": [
                {
                    "sector": sector,
                    "current_pct": _ratio(share),
                    "limit_pct": str(limits.max_sector_pct),
                    "headroom_value": _money(
                        max(limits.max_sector_pct * equity - share * equity, Decimal(0))
                    ),
                }
                for sector, share in sorted(metrics.sector_shares.items(), key=lambda item: -item[1])
            ],
        }
