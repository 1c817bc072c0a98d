"""A backtest through the risk manager: the live pipeline's steps, in time order, in one process.

The vectorised engine answers "what does this strategy earn"; this one answers "what would the
running system have done": for each session's close, in the order the replay announces the bars,

1. the bars are stored (they become marks, closes and the strategy's window);
2. the broker matches its live orders against them (the simulated broker the executor uses,
   passed in: next open, participation cap, DAY expiry, funds check);
3. the strategy gives its closing signal per bar (`closing_signal`, as the strategy engine);
4. each signal is judged with the risk manager's own function (`judge_signal`) on the books as
   the risk manager reads them from the tables (cash from the fills, positions, marks from the
   stored closes, trades today, the last judged signal, the breakers' trading state), and an
   approved order is sent to the broker with the executor's client order id.

The broker's account is read as the executor's recorder reads it in the running system: at the
start and once a session's bars are applied (the high-water mark), and the day's starting equity is
the broker's equity at the previous close (`last_equity`); what the broker says of an asset
(shortable, fractionable) is asked of it, as the executor records it. A tripped breaker moves the
state as `breakers` says and, when it flattens, closes every position through the broker.

Nothing is re-implemented: the differences between this and the running system can only come
from the inputs (bars, settings) or from timing in the running system.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from trader.core.broker import (
    Broker,
    BrokerAccount,
    BrokerFill,
    OrderClass,
    OrderRejectedError,
    OrderRequest,
    bracket_fields,
)
from trader.core.client_order_ids import make_client_order_id
from trader.core.day_trades import DayFill, DayTrading, day_trading
from trader.core.events import SignalEmitted, new_event_id
from trader.core.llm.context import Holding
from trader.core.market import Bar, Timeframe
from trader.core.money import to_cash, to_price
from trader.core.orders import OrderSide, OrderType
from trader.core.portfolio import Mark, Portfolio, trading_day_of
from trader.core.positions import Position
from trader.core.protective import ProtectiveFractions
from trader.core.release import publication_order
from trader.core.risk.context import AccountFacts, RiskContext
from trader.core.risk.decide import (
    SizingSettings,
    decision_snapshot,
    judge_signal,
    market_context,
    portfolio_from_books,
    recorded_day_start_equity,
)
from trader.core.risk.limits import RiskLimits
from trader.core.risk.market_figures import market_session
from trader.core.risk.proposal import ProposedOrder
from trader.core.risk.state import BreakerPolicy, TradingState, apply_breakers
from trader.core.sessions import MarketCalendar, bucket_end
from trader.core.strategies.base import SignalDirection, Strategy
from trader.core.strategies.closing import ClosingSignal, ClosingSignalSource, closing_signal
from trader.core.strategies.series import BarSeries

APPROVED = "approved"
DENIED = "denied"


class BarFedBroker(Broker, Protocol):
    """A broker that fills against bars it is fed (the simulated broker)."""

    def on_bar(self, bar: Bar) -> list[BrokerFill]: ...


class SteppedClock:
    """The clock the backtest moves: it shows the moment being replayed."""

    def __init__(self, start_at: datetime) -> None:
        self._at = start_at

    def now(self) -> datetime:
        return self._at

    def move_to(self, moment: datetime) -> None:
        if moment < self._at:
            raise ValueError(f"the replay cannot go back from {self._at.isoformat()} to {moment.isoformat()}")
        self._at = moment

    async def sleep_until(self, moment: datetime) -> None:
        self.move_to(max(moment, self._at))


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One risk decision and, when approved, what the broker made of the order."""

    signal_bar_at: datetime
    strategy_name: str
    symbol: str
    direction: str
    side: str
    quantity: Decimal
    reference_price: Decimal
    decision: str
    reasons: tuple[str, ...]
    codes: tuple[str, ...]
    decided_at: datetime
    trading_state: str
    portfolio: Mapping[str, Any]
    client_order_id: str | None = None
    broker_status: str | None = None
    broker_message: str | None = None


@dataclass(frozen=True, slots=True)
class FillRecord:
    client_order_id: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    commission: Decimal  # everything charged beyond the price, regulatory fees included
    filled_at: datetime
    regulatory_fees: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class ThroughRiskConfig:
    # A vectorised strategy, or one decided bar by bar (the llm strategy), shown the position too.
    strategy: Strategy | ClosingSignalSource
    symbols: tuple[str, ...]
    # Bars that closed at or before `replay_from` are history (stored, never announced); the later
    # ones are replayed up to and including the session closing at `replay_until`.
    replay_from: datetime
    replay_until: datetime
    starting_cash: Decimal
    limits: RiskLimits
    sizing: SizingSettings = field(default_factory=SizingSettings)
    sectors: Mapping[str, str] = field(default_factory=dict)
    strategy_name: str = "default"
    timeframe: Timeframe = Timeframe.DAY1
    risk_lookback_bars: int = 60
    breakers: BreakerPolicy = field(default_factory=BreakerPolicy)
    # The configuration's protective levels (stop_loss_pct, take_profit_pct), as the strategy
    # engine puts them on an entry's signal when the strategy gives none of its own.
    protection: ProtectiveFractions = field(default_factory=ProtectiveFractions)


@dataclass(slots=True)
class ThroughRiskResult:
    orders: list[OrderRecord]
    fills: list[FillRecord]
    signals: int
    sessions: int
    cash: Decimal
    positions: dict[str, Decimal]
    marks: dict[str, Decimal]
    trading_state: str

    @property
    def equity(self) -> Decimal:
        return to_cash(self.cash + sum((q * self.marks[s] for s, q in self.positions.items()), Decimal(0)))

    @property
    def approved(self) -> int:
        return sum(1 for order in self.orders if order.decision == APPROVED)

    @property
    def denied(self) -> int:
        return sum(1 for order in self.orders if order.decision == DENIED)


def bar_close_at(bar: Bar, calendar: MarketCalendar) -> datetime:
    """When a bar is complete: its session's close for a daily bar, else the end of its bucket."""
    session = (
        calendar.session_for(bar.timestamp)
        if bar.timeframe.is_intraday
        else calendar.session_for(bar.timestamp.date())
    )
    if session is None:
        raise ValueError(f"{bar.symbol} bar at {bar.timestamp.isoformat()} is outside every session")
    return bucket_end(session, bar.timestamp, bar.timeframe)


class _Stored:
    """The market data table as the services read it: bars per symbol, oldest first."""

    def __init__(self) -> None:
        self.bars: dict[str, list[Bar]] = defaultdict(list)
        self.times: dict[str, list[datetime]] = defaultdict(list)

    def add(self, bar: Bar) -> None:
        self.bars[bar.symbol].append(bar)
        self.times[bar.symbol].append(bar.timestamp)

    def until(self, symbol: str, at: datetime, count: int) -> list[Bar]:
        end = bisect.bisect_right(self.times[symbol], at)
        return self.bars[symbol][max(end - count, 0) : end]


class _Books:
    """What the risk manager reads from the executor's tables: fills, positions, orders, decisions."""

    def __init__(self, starting_cash: Decimal) -> None:
        self.starting_cash = starting_cash
        self.peak_equity = starting_cash  # of the account readings (the start's is the cash)
        self.fills: list[BrokerFill] = []
        self.spent = Decimal(0)
        self.positions: dict[str, Position] = {}
        self.orders_by_broker_id: dict[str, str] = {}
        self.approved_at: list[datetime] = []
        self.first_day_start: dict[Any, Decimal] = {}
        self.last_signal_at: dict[tuple[str, str], datetime] = {}

    @property
    def cash(self) -> Decimal:
        return to_cash(self.starting_cash - self.spent)

    def record_fill(self, fill: BrokerFill) -> None:
        self.fills.append(fill)
        signed = fill.quantity * fill.price if fill.side is OrderSide.BUY else -(fill.quantity * fill.price)
        self.spent += signed + fill.commission
        position = self.positions.get(fill.symbol, Position(fill.symbol))
        self.positions[fill.symbol] = position.apply_fill(
            fill.side, fill.quantity, fill.price, fill.commission
        )

    def held(self) -> list[Position]:
        return [
            self.positions[symbol] for symbol in sorted(self.positions) if self.positions[symbol].quantity
        ]

    def day_trading(self, at: datetime) -> DayTrading:
        """Today's opened positions and day trades, from the fills (as the risk store reads them)."""
        day = trading_day_of(at)
        today = [
            DayFill(f.symbol, f.side, f.quantity, f.filled_at, f.broker_order_id)
            for f in self.fills
            if trading_day_of(f.filled_at) == day and f.filled_at <= at
        ]
        return day_trading(today, {p.symbol: p.quantity for p in self.held()})

    def trades_on(self, at: datetime) -> int:
        day = trading_day_of(at)
        return sum(1 for moment in self.approved_at if trading_day_of(moment) == day and moment <= at)


def _marks(stored: _Stored, symbols: Sequence[str], at: datetime) -> dict[str, Mark]:
    marks = {}
    for symbol in symbols:
        latest = stored.until(symbol, at, 1)
        if latest:
            marks[symbol] = Mark(latest[-1].close, latest[-1].timestamp)
    return marks


def run_through_risk(
    config: ThroughRiskConfig,
    bars: Sequence[Bar],
    *,
    broker: BarFedBroker,
    clock: SteppedClock,
    calendar: MarketCalendar,
) -> ThroughRiskResult:
    """Replay `bars` (every symbol's, history included) through strategy, risk manager and broker.

    `broker` must start empty with `config.starting_cash` and read `clock`; the function is
    synchronous but drives the broker's async port with `asyncio`-free awaits (the simulated
    broker never suspends).
    """
    wanted = set(config.symbols)
    keyed = sorted(
        ((bar_close_at(bar, calendar), bar.symbol, bar) for bar in bars if bar.symbol in wanted),
        key=lambda item: (item[0], item[1]),
    )
    stored = _Stored()
    books = _Books(config.starting_cash)
    orders: list[OrderRecord] = []
    fills: list[FillRecord] = []
    state = TradingState.ACTIVE
    signals = sessions = 0
    index = 0
    while index < len(keyed) and keyed[index][0] <= config.replay_from:
        stored.add(keyed[index][2])
        index += 1
    while index < len(keyed) and keyed[index][0] <= config.replay_until:
        close_at = keyed[index][0]
        group = []
        while index < len(keyed) and keyed[index][0] == close_at:
            group.append(keyed[index][2])
            index += 1
        sessions += 1
        clock.move_to(close_at)
        released = publication_order(group)
        for bar in released:
            stored.add(bar)
        for bar in released:
            for fill in broker.on_bar(bar):
                books.record_fill(fill)
                fills.append(
                    FillRecord(
                        client_order_id=books.orders_by_broker_id[fill.broker_order_id],
                        symbol=fill.symbol,
                        side=fill.side.value,
                        quantity=fill.quantity,
                        price=fill.price,
                        commission=fill.commission,
                        regulatory_fees=fill.regulatory_fees,
                        filled_at=fill.filled_at,
                    )
                )
        # The executor's reading once the bars are applied: the high-water mark moves with it.
        books.peak_equity = max(books.peak_equity, _resolve(broker.get_account()).equity)
        emitted = []
        for bar in released:
            if bar.timeframe is not config.timeframe:
                continue
            window = stored.until(bar.symbol, bar.timestamp, config.strategy.lookback_bars)
            if len(window) < config.strategy.lookback_bars:
                continue
            latest = _closing(config, window, books, stored, close_at)
            if latest is None:
                continue
            emitted.append(
                SignalEmitted(
                    event_id=new_event_id(),
                    occurred_at=close_at,
                    strategy_name=config.strategy_name,
                    symbol=bar.symbol,
                    timeframe=bar.timeframe,
                    bar_at=bar.timestamp,
                    direction=latest.direction.value,
                    strength=latest.strength,
                    price=to_price(bar.close),
                    reason="",
                    **_levels(config, latest, to_price(bar.close)),
                )
            )
        signals += len(emitted)
        for signal in emitted:
            state = _judge(config, signal, close_at, state, stored, books, broker, calendar, orders)
    last = {symbol: stored.bars[symbol][-1].close for symbol in stored.bars if stored.bars[symbol]}
    held = {position.symbol: position.quantity for position in books.held()}
    return ThroughRiskResult(
        orders=orders,
        fills=fills,
        signals=signals,
        sessions=sessions,
        cash=books.cash,
        positions=held,
        marks={symbol: last[symbol] for symbol in held},
        trading_state=state.value,
    )


def _levels(config: ThroughRiskConfig, latest: ClosingSignal, price: Decimal) -> dict[str, Any]:
    """The signal's protective levels: the strategy's own, else the configuration's for an entry."""
    stop, target = latest.stop_price, latest.target_price
    if latest.direction is SignalDirection.BUY and stop is None and target is None:
        stop, target = config.protection.levels(OrderSide.BUY, price)
    return {"stop_price": stop, "target_price": target}


def _closing(
    config: ThroughRiskConfig, window: list[Bar], books: _Books, stored: _Stored, at: datetime
) -> ClosingSignal | None:
    strategy = config.strategy
    if isinstance(strategy, ClosingSignalSource):
        return strategy.closing_signal_at(window, _holding(books, stored, window[-1].symbol, at), at)
    return closing_signal(strategy, BarSeries.from_bars(window))


def _holding(books: _Books, stored: _Stored, symbol: str, at: datetime) -> Holding:
    """The symbol's position and the book's gross exposure over its equity, at the stored marks."""
    held = books.held()
    marks = _marks(stored, [position.symbol for position in held], at)
    values = [
        abs(p.quantity) * (marks[p.symbol].price if p.symbol in marks else p.average_cost) for p in held
    ]
    equity = books.cash + sum(
        (p.quantity * (marks[p.symbol].price if p.symbol in marks else p.average_cost) for p in held),
        Decimal(0),
    )
    gross = sum(values, Decimal(0))
    mine = books.positions.get(symbol)
    return Holding(
        quantity=mine.quantity if mine else Decimal(0),
        average_cost=mine.average_cost if mine and mine.quantity else None,
        gross_exposure=(gross / equity).quantize(Decimal("0.0001")) if equity > 0 else Decimal(0),
        positions_open=len(held),
    )


def _portfolio(
    config: ThroughRiskConfig, books: _Books, stored: _Stored, at: datetime, account: BrokerAccount
) -> Portfolio:
    held = books.held()
    return portfolio_from_books(
        at=at,
        cash=books.cash,
        positions=held,
        marks=_marks(stored, [position.symbol for position in held], at),
        trades_today=books.trades_on(at),
        last_signal_at=books.last_signal_at,
        starting_cash=config.starting_cash,
        snapshot_peak_equity=books.peak_equity,
        has_snapshots=True,
        first_decision_day_start_equity=books.first_day_start.get(trading_day_of(at)),
        broker_day_start_equity=account.last_equity,
    )


def _judge(
    config: ThroughRiskConfig,
    signal: SignalEmitted,
    at: datetime,
    state: TradingState,
    stored: _Stored,
    books: _Books,
    broker: BarFedBroker,
    calendar: MarketCalendar,
    orders: list[OrderRecord],
) -> TradingState:
    account = _resolve(broker.get_account())
    portfolio = _portfolio(config, books, stored, at, account)
    change = apply_breakers(state, portfolio, config.limits, at, config.breakers)
    if change is not None:
        state = change.state
        if config.breakers.flatten:
            _flatten(broker, books)
    asset = _resolve(broker.get_asset(signal.symbol))
    day = books.day_trading(at)
    context = RiskContext(
        evaluated_at=at,
        session=market_session(calendar, at),
        trading_state=state,
        sectors=config.sectors,
        account=AccountFacts(
            read_at=None,
            day_trading_equity=account.last_equity,
            pattern_day_trader=account.pattern_day_trader,
            day_trades=account.daytrade_count + day.made_after(None),
            opened_today=day.opened,
            shorting_enabled=account.shorting_enabled,
        ),
        shortable={} if asset is None else {signal.symbol: asset.shortable},
        fractionable={} if asset is None else {signal.symbol: asset.fractionable},
    )
    symbols = sorted({signal.symbol, *(position.symbol for position in portfolio.open_positions)})
    count = config.risk_lookback_bars
    closes = {
        symbol: [(bar.timestamp, bar.close) for bar in stored.until(symbol, at, count)] for symbol in symbols
    }
    recent = stored.until(signal.symbol, at, count)
    timeframe = recent[-1].timeframe.value if recent else None
    context, facts = market_context(
        context, signal.symbol, closes, timeframe, [(bar.high, bar.low, bar.close) for bar in recent]
    )
    judged = judge_signal(signal, portfolio, context, config.limits, config.sizing, calendar, facts)
    if judged.proposal is None or judged.decision is None:
        return state
    proposal, decision = judged.proposal, judged.decision
    snapshot = decision_snapshot(judged, portfolio)
    books.first_day_start.setdefault(trading_day_of(at), recorded_day_start_equity(portfolio))
    books.last_signal_at[(signal.strategy_name, signal.symbol)] = max(
        signal.bar_at, books.last_signal_at.get((signal.strategy_name, signal.symbol), signal.bar_at)
    )
    record = OrderRecord(
        signal_bar_at=signal.bar_at,
        strategy_name=signal.strategy_name,
        symbol=proposal.symbol,
        direction=signal.direction,
        side=proposal.side.value,
        quantity=proposal.quantity,
        reference_price=proposal.reference_price,
        decision=APPROVED if decision.approved else DENIED,
        reasons=decision.reasons,
        codes=tuple(code.value for code in decision.codes),
        decided_at=at,
        trading_state=judged.context.trading_state.value,
        portfolio=snapshot["portfolio"],
    )
    if decision.approved:
        books.approved_at.append(at)
        record = _submit(record, signal, broker, books, proposal)
    orders.append(record)
    return state


def _flatten(broker: BarFedBroker, books: _Books) -> None:
    """Close every position, as the executor's close-all does when a breaker flattens."""
    _resolve(broker.cancel_all_orders())
    for result in _resolve(broker.close_all_positions()):
        if result.order is not None:
            books.orders_by_broker_id[result.order.broker_order_id] = result.order.client_order_id


def _submit(
    record: OrderRecord,
    signal: SignalEmitted,
    broker: BarFedBroker,
    books: _Books,
    proposal: ProposedOrder,
) -> OrderRecord:
    """Send an approved order as the executor does (same client order id, market, DAY; an entry
    with both protective levels as a GTC bracket, `bracket_fields`)."""
    side = OrderSide(record.side)
    client_order_id = make_client_order_id(
        record.strategy_name, record.symbol, signal.bar_at, f"{side.value}{OrderType.MARKET.value[:2]}"
    )
    request = OrderRequest(
        client_order_id=client_order_id,
        symbol=record.symbol.upper(),
        side=side,
        quantity=record.quantity,
        order_type=OrderType.MARKET,
        **bracket_fields(proposal.stop_loss_price, proposal.take_profit_price),
    )
    status, message = "submitted", None
    if request.order_class is OrderClass.SIMPLE:
        # As the executor does: the position's protective legs go before its exit is sent.
        for working in _resolve(broker.list_orders(open_only=True)):
            if (
                working.parent_broker_order_id is not None
                and working.symbol == request.symbol
                and working.side is request.side
            ):
                _resolve(broker.cancel_order(working.broker_order_id))
    try:
        answer = _resolve(broker.submit_order(request))
        books.orders_by_broker_id[answer.broker_order_id] = client_order_id
        for leg in answer.legs:  # a bracket's exits fill under their own ids
            books.orders_by_broker_id[leg.broker_order_id] = leg.client_order_id
        status = answer.status.value
    except OrderRejectedError as error:
        status, message = "rejected", f"broker rejected: {error}"
    return _replace(record, client_order_id=client_order_id, broker_status=status, broker_message=message)


def _replace(record: OrderRecord, **changes: Any) -> OrderRecord:
    from dataclasses import replace

    return replace(record, **changes)


def _resolve(awaitable: Any) -> Any:
    """Run a coroutine that never suspends (the in-memory broker) to its result."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    awaitable.close()
    raise RuntimeError("the broker suspended; run_through_risk needs an in-memory broker")


def replay_start_at(calendar: MarketCalendar, first_day: datetime) -> datetime:
    """Where the replay clock starts for a REPLAY_START day: the next session's open."""
    return calendar.next_open(first_day - timedelta(microseconds=1))


def result_as_dict(result: ThroughRiskResult) -> dict[str, Any]:
    """The result as JSON values (decimals and times as strings)."""
    return {
        "sessions": result.sessions,
        "signals": result.signals,
        "orders": [
            {
                "signal_bar_at": order.signal_bar_at.isoformat(),
                "strategy_name": order.strategy_name,
                "symbol": order.symbol,
                "direction": order.direction,
                "side": order.side,
                "quantity": format(order.quantity, "f"),
                "reference_price": format(order.reference_price, "f"),
                "decision": order.decision,
                "reasons": list(order.reasons),
                "trading_state": order.trading_state,
                "client_order_id": order.client_order_id,
                "broker_status": order.broker_status,
                "broker_message": order.broker_message,
                "portfolio": dict(order.portfolio),
            }
            for order in result.orders
        ],
        "fills": [
            {
                "client_order_id": fill.client_order_id,
                "symbol": fill.symbol,
                "side": fill.side,
                "quantity": format(fill.quantity, "f"),
                "price": format(fill.price, "f"),
                "commission": format(fill.commission, "f"),
                "regulatory_fees": format(fill.regulatory_fees, "f"),
                "filled_at": fill.filled_at.isoformat(),
            }
            for fill in result.fills
        ],
        "cash": format(result.cash, "f"),
        "positions": {symbol: format(quantity, "f") for symbol, quantity in result.positions.items()},
        "marks": {symbol: format(price, "f") for symbol, price in result.marks.items()},
        "equity": format(result.equity, "f"),
        "trading_state": result.trading_state,
    }
