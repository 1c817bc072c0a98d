"""The risk manager's judgement of one signal, as a pure function of values.

The risk manager service reads the books, the market figures and the trading state from its
stores and calls `judge_signal`; the backtester that runs "through the risk manager" keeps the
same values in memory and calls the same function. Both therefore size, propose and decide with
one piece of code: a difference between them can only come from the values they pass in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from trader.core.events import SignalEmitted
from trader.core.market import Timeframe
from trader.core.money import to_cash
from trader.core.orders import OrderSide, OrderType
from trader.core.portfolio import (
    EXCHANGE_TIME_ZONE,
    Mark,
    Portfolio,
    restate,
    trading_day_of,
)
from trader.core.positions import Position
from trader.core.protective import ProtectiveFractions
from trader.core.risk.context import RiskContext
from trader.core.risk.engine import evaluate
from trader.core.risk.limits import RiskLimits
from trader.core.risk.market_figures import (
    Closes,
    correlations_of,
    latest_atr,
    periods_per_year,
    symbol_volatility,
)
from trader.core.risk.proposal import ProposedOrder
from trader.core.risk.reasons import RiskDecision
from trader.core.risk.sizing import (
    FRACTIONAL_STEP,
    MissingSizingInputError,
    SizingInputs,
    SizingMethod,
    SizingPolicy,
    size_position,
)
from trader.core.sessions import MarketCalendar, bucket_end

SUPPORTED_SIZING = (SizingMethod.FIXED_FRACTION, SizingMethod.ATR, SizingMethod.VOLATILITY_TARGET)
_ONE_SHARE = Decimal(1)


@dataclass(frozen=True, slots=True)
class SizingSettings:
    method: SizingMethod = SizingMethod.FIXED_FRACTION
    fraction: Decimal = Decimal("0.05")
    atr_multiple: Decimal = Decimal("2")
    target_volatility: Decimal = Decimal("0.15")
    # The protective levels of an entry whose signal gives none (RISK_STOP_LOSS_PCT,
    # RISK_TAKE_PROFIT_PCT): fractions of the signal's price. None: no default.
    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None

    def __post_init__(self) -> None:
        if self.method not in SUPPORTED_SIZING:
            allowed = ", ".join(method.value for method in SUPPORTED_SIZING)
            raise ValueError(
                f"RISK_SIZING_METHOD={self.method.value} needs inputs signals do not carry; "
                f"use one of {allowed}"
            )

    def policy(self, limits: RiskLimits) -> SizingPolicy:
        return SizingPolicy(
            method=self.method,
            fraction=self.fraction,
            risk_fraction=limits.risk_per_trade_pct,
            atr_multiple=self.atr_multiple,
            target_volatility=self.target_volatility,
        )


@dataclass(frozen=True, slots=True)
class Judged:
    """A signal's outcome: no proposal (nothing to do for the position held), or the proposal, the
    context it was judged in, the decision and the facts recorded beside it."""

    proposal: ProposedOrder | None
    context: RiskContext
    decision: RiskDecision | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def _money(value: Decimal) -> str:
    return format(to_cash(value).quantize(Decimal("0.01")), "f")


def _ratio(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.000001")), "f")


def portfolio_snapshot(portfolio: Portfolio) -> dict[str, Any]:
    """The portfolio as JSON values, rounded for storage (cents, six places for ratios)."""
    return {
        "cash": _money(portfolio.cash),
        "equity": _money(portfolio.equity),
        "peak_equity": _money(portfolio.peak_equity),
        "day_start_equity": _money(portfolio.day_start_equity),
        "trading_day": portfolio.trading_day.isoformat(),
        "trades_today": portfolio.trades_today,
        "gross_exposure": _money(portfolio.gross_exposure),
        "net_exposure": _money(portfolio.net_exposure),
        "drawdown": _ratio(portfolio.drawdown),
        "daily_pnl": _money(portfolio.daily_pnl),
        "positions": _positions_record(portfolio),
    }


_PositionEntry = tuple[tuple[str, str], ...]


def _positions_record(portfolio: Portfolio) -> list[dict[str, str]]:
    """The open positions as a snapshot records them: the text is made once per holdings and shared
    by the snapshots derived from them (a batch of decisions records the same holdings each time);
    each snapshot still gets a list of its own."""
    entries = portfolio.per_holdings("decision_snapshot.positions", _position_entries)
    return [dict(entry) for entry in entries]


def _position_entries(portfolio: Portfolio) -> tuple[_PositionEntry, ...]:
    return tuple(
        (
            ("symbol", position.symbol),
            ("quantity", format(position.quantity.normalize(), "f")),
            ("average_cost", format(position.average_cost.quantize(Decimal("0.0001")), "f")),
            ("mark", format(portfolio.marks[position.symbol].price, "f")),
            ("marked_at", portfolio.marks[position.symbol].marked_at.isoformat()),
        )
        for position in portfolio.open_positions
    )


def recorded_day_start_equity(portfolio: Portfolio) -> Decimal:
    """The day-start equity as a decision's snapshot stores it (to the cent); later decisions of the
    same day read it back from there."""
    return Decimal(_money(portfolio.day_start_equity))


def portfolio_from_books(
    *,
    at: datetime,
    cash: Decimal,
    positions: Sequence[Position],
    marks: Mapping[str, Mark],
    trades_today: int,
    last_signal_at: Mapping[tuple[str, str], datetime],
    starting_cash: Decimal,
    snapshot_peak_equity: Decimal | None = None,
    has_snapshots: bool = False,
    baseline_equity: Decimal | None = None,
    previous_day_equity: Decimal | None = None,
    first_decision_day_start_equity: Decimal | None = None,
    broker_day_start_equity: Decimal | None = None,
) -> Portfolio:
    """The books as a Portfolio: peak since the last drawdown baseline, today's starting equity."""
    return with_counts(
        holdings_at(at, cash=cash, positions=positions, marks=marks),
        trades_today=trades_today,
        last_signal_at=last_signal_at,
        starting_cash=starting_cash,
        snapshot_peak_equity=snapshot_peak_equity,
        has_snapshots=has_snapshots,
        baseline_equity=baseline_equity,
        previous_day_equity=previous_day_equity,
        first_decision_day_start_equity=first_decision_day_start_equity,
        broker_day_start_equity=broker_day_start_equity,
    )


def holdings_at(
    at: datetime, *, cash: Decimal, positions: Sequence[Position], marks: Mapping[str, Mark]
) -> Portfolio:
    """Cash, positions and marks on the trading day of `at`, before `with_counts` adds the rest."""
    return Portfolio(
        cash=cash,
        peak_equity=Decimal(0),
        day_start_equity=Decimal(0),
        trading_day=trading_day_of(at),
        positions={position.symbol: position for position in positions},
        marks=marks,
    )


def with_counts(
    holdings: Portfolio,
    *,
    trades_today: int,
    last_signal_at: Mapping[tuple[str, str], datetime],
    starting_cash: Decimal,
    snapshot_peak_equity: Decimal | None = None,
    has_snapshots: bool = False,
    baseline_equity: Decimal | None = None,
    previous_day_equity: Decimal | None = None,
    first_decision_day_start_equity: Decimal | None = None,
    broker_day_start_equity: Decimal | None = None,
) -> Portfolio:
    """`holdings` (its cash, positions and marks) with the books' counts, peak and day start, as
    `portfolio_from_books` makes them. A decision moves only these, so the risk manager re-derives
    the portfolio after each decision of a batch without summing the holdings again."""
    equity = holdings.equity
    peaks = [equity]
    if snapshot_peak_equity is not None:
        peaks.append(snapshot_peak_equity)
    if baseline_equity is not None:
        peaks.append(baseline_equity)
    elif not has_snapshots:
        # An account no snapshot has described yet started from the configured cash.
        peaks.append(starting_cash)
    if broker_day_start_equity is not None:
        # The broker's equity at the previous session's close, as today's account readings state it.
        day_start = broker_day_start_equity
    elif previous_day_equity is not None:
        day_start = previous_day_equity
    elif first_decision_day_start_equity is not None:
        day_start = first_decision_day_start_equity
    else:
        # The first evaluation of the day: today's loss is measured from now.
        day_start = equity
    return restate(
        holdings,
        peak_equity=max(peaks),
        day_start_equity=day_start,
        trades_today=trades_today,
        last_signal_at=last_signal_at,
    )


def side_and_quantity(
    direction: str, held: Decimal, target: Decimal | None
) -> tuple[OrderSide, Decimal] | None:
    """What a signal asks of the position held, read as a target: "buy" is long, "sell" is not long
    (a long is closed), "short" is short, "flat" is flat. An opposite position is closed first (the
    next signal opens the other side); a position already on the target's side is left as it is, so
    a repeated entry adds nothing and an exit when flat sends nothing (None: nothing to do).
    `target` is the size of a new position (under one step it is judged at one share, so the
    decision names the limit that stops it instead of the signal silently vanishing)."""
    if direction == "flat" or (direction == "sell" and held > 0):
        if held == 0:
            return None
        return (OrderSide.SELL, held) if held > 0 else (OrderSide.BUY, -held)
    if direction == "buy":
        if held != 0:
            return (OrderSide.BUY, -held) if held < 0 else None
        return OrderSide.BUY, _opening(target)
    if direction == "short":
        if held != 0:
            return (OrderSide.SELL, held) if held > 0 else None
        return OrderSide.SELL, _opening(target)
    return None


def opens_position(direction: str, held: Decimal) -> bool:
    """Whether the signal asks to open a position (so it needs sizing)."""
    return held == 0 and direction in ("buy", "short")


def _opening(target: Decimal | None) -> Decimal:
    return target if target is not None and target > 0 else _ONE_SHARE


def market_context(
    context: RiskContext,
    symbol: str,
    closes_by_symbol: Mapping[str, Closes],
    timeframe: str | None,
    bars: Sequence[tuple[Decimal, Decimal, Decimal]],
) -> tuple[RiskContext, dict[str, Any]]:
    """The context with the symbol's volatility and its correlations with the holdings, from the
    recent closes of the symbol and the holdings and the symbol's recent (high, low, close) bars."""
    closes = closes_by_symbol.get(symbol, ())
    volatility = symbol_volatility(closes, periods_per_year(timeframe))
    volatilities = {symbol: volatility} if volatility is not None else {}
    enriched = replace(context, volatilities=volatilities, correlations=correlations_of(closes_by_symbol))
    facts: dict[str, Any] = {
        "volatility": None if volatility is None else str(volatility),
        "atr": None if (value := latest_atr(bars)) is None else str(value),
        "closes_used": len(closes),
        "sector": enriched.sector_of(symbol),
        "session": enriched.session.value,
    }
    return enriched, facts


def last_close_at(calendar: MarketCalendar, at: datetime) -> datetime:
    """The close of the latest session that has finished by `at`."""
    local_day: date = at.astimezone(EXCHANGE_TIME_ZONE).date()
    today = calendar.session_for(local_day)
    if today is not None and at >= today.close_at:
        return today.close_at
    return calendar.previous_session(local_day).close_at


def signal_priced_at(calendar: MarketCalendar, signal: SignalEmitted) -> datetime:
    """When the signal's price was observed: the close of its bar."""
    try:
        timeframe = Timeframe.parse(str(signal.timeframe.value))
        session = (
            calendar.session_for(signal.bar_at)
            if timeframe.is_intraday
            else calendar.session_for(signal.bar_at.astimezone(UTC).date())
        )
    except ValueError:
        return signal.bar_at
    if session is None:
        return signal.bar_at
    return bucket_end(session, signal.bar_at, timeframe)


def _confidence(signal: SignalEmitted) -> Decimal | None:
    return signal.strength if Decimal(0) <= signal.strength <= Decimal(1) else None


def target_quantity(
    signal: SignalEmitted,
    portfolio: Portfolio,
    context: RiskContext,
    policy: SizingPolicy,
    facts: dict[str, Any],
    *,
    protected: bool = False,
) -> Decimal:
    """The position size the policy wants; records how it was sized in `facts["sizing"]`.

    A `protected` entry (sent with exit legs) is sized in whole shares: Alpaca takes fractional
    quantities only in simple DAY orders."""
    available = portfolio.cash if context.buying_power is None else context.buying_power
    atr = facts.get("atr")
    fractional = context.fractionable.get(signal.symbol, False) and not protected
    inputs = SizingInputs(
        equity=portfolio.equity,
        price=signal.price,
        buying_power=max(available, Decimal(0)),
        atr=None if atr is None else Decimal(atr),
        annual_volatility=context.volatilities.get(signal.symbol),
        confidence=_confidence(signal),
        # A market DAY order (what risk proposes) may be fractional where the broker allows it.
        share_step=FRACTIONAL_STEP if fractional else Decimal(1),
    )
    try:
        quantity = size_position(policy, inputs)
        facts["sizing"] = {"method": policy.method.value, "quantity": format(quantity, "f")}
    except MissingSizingInputError as error:
        # Not enough history for the chosen method yet: the plain fraction of equity.
        fallback = replace(policy, method=SizingMethod.FIXED_FRACTION)
        quantity = size_position(fallback, inputs)
        facts["sizing"] = {
            "method": SizingMethod.FIXED_FRACTION.value,
            "quantity": format(quantity, "f"),
            "fallback_from": policy.method.value,
            "why": str(error),
        }
    # Under one share the order is judged at one share, so the decision names the limit that
    # stops it (buying power, position size) instead of the signal silently vanishing.
    return quantity


def protective_levels(
    signal: SignalEmitted, side: OrderSide, sizing: SizingSettings | None
) -> tuple[Decimal | None, Decimal | None]:
    """(stop-loss, take-profit) of an entry: the signal's own, else the settings' fractions of its
    price (on the cent grid, rounded toward the price)."""
    stop, target = signal.stop_price, signal.target_price
    if sizing is not None:
        defaults = ProtectiveFractions(sizing.stop_loss_pct, sizing.take_profit_pct)
        default_stop, default_target = defaults.levels(side, signal.price)
        stop = default_stop if stop is None else stop
        target = default_target if target is None else target
    return stop, target


def propose(
    signal: SignalEmitted,
    portfolio: Portfolio,
    context: RiskContext,
    policy: SizingPolicy,
    priced_at: datetime,
    facts: dict[str, Any],
    sizing: SizingSettings | None = None,
) -> ProposedOrder | None:
    held = portfolio.position(signal.symbol).quantity
    target: Decimal | None = None
    opening = opens_position(signal.direction, held)
    stop_level = target_level = None
    if opening:
        entry_side = OrderSide.BUY if signal.direction == "buy" else OrderSide.SELL
        stop_level, target_level = protective_levels(signal, entry_side, sizing)
        protected = stop_level is not None or target_level is not None
        target = target_quantity(signal, portfolio, context, policy, facts, protected=protected)
    intent = side_and_quantity(signal.direction, held, target)
    if intent is None:
        return None
    side, quantity = intent
    return ProposedOrder(
        symbol=signal.symbol,
        side=side,
        quantity=quantity,
        order_type=OrderType.MARKET,
        reference_price=signal.price,
        priced_at=priced_at,
        strategy_name=signal.strategy_name,
        signal_at=signal.bar_at,
        confidence=_confidence(signal),
        stop_loss_price=stop_level,
        take_profit_price=target_level,
    )


def judge_signal(
    signal: SignalEmitted,
    portfolio: Portfolio,
    context: RiskContext,
    limits: RiskLimits,
    sizing: SizingSettings,
    calendar: MarketCalendar,
    facts: Mapping[str, Any],
) -> Judged:
    """Size the signal into an order and judge it against every rule.

    `context` carries the evaluation time, session, trading state and market figures (see
    `market_context`); `facts` are the figures as recorded. An end-of-day signal trades at the next
    session's open (the next-bar-open fill rule), so it is judged as queued for the open.
    """
    recorded = dict(facts)
    if not signal.timeframe.is_intraday:
        context = replace(
            context, queued_for_open=True, last_close_at=last_close_at(calendar, context.evaluated_at)
        )
    proposal = propose(
        signal,
        portfolio,
        context,
        sizing.policy(limits),
        signal_priced_at(calendar, signal),
        recorded,
        sizing,
    )
    if proposal is None:
        return Judged(None, context, None, recorded)
    return Judged(proposal, context, evaluate(proposal, portfolio, limits, context), recorded)


def decision_snapshot(judged: Judged, portfolio: Portfolio) -> dict[str, Any]:
    """What a decision records beside itself: the order, the portfolio and the context it saw."""
    proposal, decision = judged.proposal, judged.decision
    if proposal is None or decision is None:
        raise ValueError("a decision snapshot needs a proposal and its decision")
    return {
        "order": {
            "symbol": proposal.symbol,
            "side": proposal.side.value,
            "quantity": format(proposal.quantity, "f"),
            "order_type": proposal.order_type.value,
            "limit_price": None if proposal.limit_price is None else str(proposal.limit_price),
            "stop_loss_price": None if proposal.stop_loss_price is None else str(proposal.stop_loss_price),
            "take_profit_price": None
            if proposal.take_profit_price is None
            else str(proposal.take_profit_price),
            "reference_price": str(proposal.reference_price),
            "priced_at": proposal.priced_at.isoformat(),
            "sizing": judged.facts.get("sizing"),
        },
        "portfolio": portfolio_snapshot(portfolio),
        "context": {key: value for key, value in judged.facts.items() if key != "sizing"},
        "codes": [code.value for code in decision.codes],
    }
