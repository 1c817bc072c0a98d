"""The backtest through the risk manager: the risk manager's judgement on the books it would read,
the simulated broker's fills at the next open, the risk limits' denials."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.marketdata.sample import load_sample_bars
from trader.adapters.sim_broker import SimulatedBroker
from trader.backtest.through_risk import (
    APPROVED,
    SteppedClock,
    ThroughRiskConfig,
    ThroughRiskResult,
    bar_close_at,
    run_through_risk,
)
from trader.core.fills import FillModel
from trader.core.market import Bar
from trader.core.orders import OrderSide
from trader.core.risk.limits import RiskLimits
from trader.core.strategies.catalog import built_in_catalog

CALENDAR = XNYSCalendar()
SYMBOLS = ("AAPL", "IBM", "MSFT")
STARTING_CASH = Decimal(100_000)
LAST_DAY = date(2010, 12, 31)


@cache
def sample_bars() -> tuple[Bar, ...]:
    loaded = load_sample_bars(CALENDAR, SYMBOLS)
    return tuple(bar for symbol in SYMBOLS for bar in loaded[symbol] if bar.timestamp.year <= 2010)


def run(
    limits: RiskLimits | None = None,
    bars: Sequence[Bar] | None = None,
    participation: Decimal = Decimal("0.1"),
) -> ThroughRiskResult:
    start = CALENDAR.next_open(datetime(2010, 1, 4, tzinfo=UTC))
    last = CALENDAR.session_for(LAST_DAY)
    assert last is not None
    clock = SteppedClock(start)
    broker = SimulatedBroker(clock, CALENDAR, starting_cash=STARTING_CASH, participation_rate=participation)
    config = ThroughRiskConfig(
        strategy=built_in_catalog().build("sma_crossover", {"fast_window": 3, "slow_window": 8}),
        symbols=SYMBOLS,
        replay_from=start,
        replay_until=last.close_at,
        starting_cash=STARTING_CASH,
        limits=limits or RiskLimits(),
    )
    return run_through_risk(
        config, list(bars or sample_bars()), broker=broker, clock=clock, calendar=CALENDAR
    )


def bar_of(symbol: str, at: datetime) -> Bar:
    return next(bar for bar in sample_bars() if bar.symbol == symbol and bar.timestamp == at)


def test_approved_orders_fill_at_the_next_sessions_open_stamped_at_the_open() -> None:
    slippage = FillModel().slippage  # the broker's default costs
    result = run()
    # Orders from the last session's signals would fill after the window.
    approved = [o for o in result.orders if o.decision == APPROVED and o.signal_bar_at.date() < LAST_DAY]
    assert approved and len(result.fills) == len(approved)
    by_client_id = {fill.client_order_id: fill for fill in result.fills}
    for order in approved:
        signal_close = bar_close_at(bar_of(order.symbol, order.signal_bar_at), CALENDAR)
        next_open = CALENDAR.next_open(signal_close)
        assert order.client_order_id is not None
        fill = by_client_id[order.client_order_id]
        assert (fill.filled_at, fill.price, fill.quantity) == (
            next_open,
            slippage.adjust(OrderSide(order.side), bar_of(order.symbol, next_open).open),
            order.quantity,
        )
        assert fill.regulatory_fees == (0 if fill.side == "buy" else fill.commission)


def test_each_decision_is_judged_on_the_cash_after_the_fills_before_it() -> None:
    result = run()
    assert len(result.orders) > 5
    for order in result.orders:
        moment = bar_close_at(bar_of(order.symbol, order.signal_bar_at), CALENDAR)
        spent = sum(
            (
                fill.quantity * fill.price * (1 if fill.side == "buy" else -1) + fill.commission
                for fill in result.fills
                if fill.filled_at <= moment
            ),
            Decimal(0),
        )
        assert Decimal(order.portfolio["cash"]) == (STARTING_CASH - spent).quantize(Decimal("0.01"))
    marked = sum((q * result.marks[s] for s, q in result.positions.items()), Decimal(0))
    assert result.equity == (result.cash + marked).quantize(result.equity)


def test_signals_are_targets_an_exit_when_flat_and_a_repeated_entry_make_no_order() -> None:
    result = run()
    assert result.orders and result.signals > len(result.orders)
    for order in result.orders:
        held = {p["symbol"]: Decimal(p["quantity"]) for p in order.portfolio["positions"]}
        if order.side == "sell":
            # Only ever the long held, closed whole: never a short, never a denial for one.
            assert order.direction == "sell" and order.quantity == held[order.symbol], order
        else:
            assert order.direction == "buy" and order.symbol not in held, order
    assert not any(r.startswith("SHORTING_NOT_ALLOWED") for o in result.orders for r in o.reasons)


def test_the_daily_trade_limit_denies_the_second_opening_order_of_a_session() -> None:
    result = run(limits=replace(RiskLimits(), max_trades_per_day=1))
    opened_by_day: dict[datetime, list[str]] = {}
    for order in result.orders:
        if order.side == "buy":
            opened_by_day.setdefault(order.signal_bar_at, []).append(order.decision)
    busy = {day: decisions for day, decisions in opened_by_day.items() if len(decisions) > 1}
    assert busy, "the window needs a session with two buy signals"
    for decisions in busy.values():
        assert decisions[1:] == ["denied"] * (len(decisions) - 1)
    limited = [o for o in result.orders if any(r.startswith("MAX_TRADES_PER_DAY_REACHED") for r in o.reasons)]
    assert limited


def test_the_volume_cap_fills_part_of_an_order_and_the_day_order_expires_with_its_session() -> None:
    thin = [replace(bar, volume=Decimal(50)) for bar in sample_bars()]
    result = run(bars=thin, participation=Decimal("0.1"))
    assert result.fills
    assert all(fill.quantity == 5 for fill in result.fills)
    # One bar per DAY order: each approved order fills once, for five shares, and is gone.
    accepted = [
        o
        for o in result.orders
        if o.decision == APPROVED and o.broker_status == "accepted" and o.signal_bar_at.date() < LAST_DAY
    ]
    assert len(result.fills) == len(accepted)
