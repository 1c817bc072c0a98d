"""The same bars give the same stop exits in the vectorised backtest and through the risk manager
(whose entries go to the simulated broker as brackets): same bar, same price, same leg, for an
intrabar stop, a gap through the stop, a bar touching both levels (stop first), a gap over the
target and a stop within the entry's own bar."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pytest

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.sim_broker import SimulatedBroker
from trader.backtest.engine import BacktestConfig, StopRules, run_backtest
from trader.backtest.through_risk import APPROVED, SteppedClock, ThroughRiskConfig, run_through_risk
from trader.backtest.trades import ExitReason
from trader.core.fills import FillModel, Slippage
from trader.core.market import Bar, Timeframe
from trader.core.orders import OrderSide
from trader.core.protective import ProtectiveFractions
from trader.core.risk.decide import SizingSettings
from trader.core.risk.limits import RiskLimits
from trader.core.strategies.base import Signals
from trader.core.strategies.series import BarSeries

CALENDAR = XNYSCalendar()
SYMBOL = "AAPL"
STOP, TARGET = Decimal("0.05"), Decimal("0.20")
# A model with costs on the exit: zero slippage on the entry would be needed for the backtester's
# levels (a fraction of the entry's fill) to equal the live ones (a fraction of the signal's
# close, the next open here), so slippage is zero and the regulatory fees stay.
MODEL = FillModel(slippage=Slippage(Decimal(0)))


class CrossAbove:
    """Long when the close reaches 100 from below; never exits by signal (only the legs do)."""

    name = "cross_above"
    lookback_bars = 2

    def parameters(self) -> Mapping[str, object]:
        return {"level": 100}

    def generate(self, bars: BarSeries) -> Signals:
        close = np.asarray(bars.close, dtype=np.float64)
        previous = np.concatenate(([np.inf], close[:-1]))
        entries = (close >= 100.0) & (previous < 100.0)
        return Signals(entries=entries, exits=np.zeros_like(entries))


def _bars() -> list[Bar]:
    # (open, high, low, close); history below 100, then three entries at 100 and their exits.
    calm = [(98.0, 98.6, 97.8, 98.5), (98.5, 98.7, 97.6, 98.0)] * 8
    rows = [
        *calm,
        (98.0, 100.2, 97.9, 100.0),  # entry signal: fills at the next open, 100
        (100.0, 101.0, 99.5, 100.5),
        (100.0, 100.5, 96.0, 97.0),
        (97.0, 97.5, 94.0, 95.5),  # intrabar through the stop at 95: out at 95
        *calm[:4],
        (98.0, 100.2, 97.9, 100.0),  # second entry
        (100.0, 100.8, 99.6, 100.2),
        (93.0, 94.0, 92.0, 93.5),  # gap through the stop: out at the open, 93
        *calm[:4],
        (98.0, 100.2, 97.9, 100.0),  # third entry
        (100.0, 100.9, 99.0, 100.1),
        (100.0, 121.0, 94.0, 110.0),  # both levels touched: the stop first, 95
        *calm[:4],
        (98.0, 100.2, 97.9, 100.0),  # fourth entry
        (100.0, 101.0, 99.0, 100.4),
        (125.0, 126.0, 94.0, 100.0),  # gap over the target at 120 (then the stop): out at the open, 125
        *calm[:4],
        (98.0, 100.2, 97.9, 100.0),  # fifth entry
        (100.0, 100.5, 94.5, 95.5),  # the entry's own bar reaches the stop after the open: out at 95
        *calm[:2],
    ]
    sessions = CALENDAR.sessions_between(date(2024, 1, 2), date(2024, 6, 28))[: len(rows)]
    assert len(sessions) == len(rows)
    return [
        Bar(
            SYMBOL,
            Timeframe.DAY1,
            session.open_at,
            Decimal(str(open_)),
            Decimal(str(high)),
            Decimal(str(low)),
            Decimal(str(close)),
            Decimal(10_000_000),
        )
        for session, (open_, high, low, close) in zip(sessions, rows, strict=True)
    ]


def _vectorised(
    bars: list[Bar], target: Decimal | None = TARGET
) -> list[tuple[datetime | None, Decimal | None, ExitReason]]:
    config = BacktestConfig(
        initial_cash=Decimal(100_000),
        fill_model=MODEL,
        stops=StopRules(stop_loss=STOP, take_profit=target),
        allocation=Decimal("0.05"),
    )
    result = run_backtest(CrossAbove(), BarSeries.from_bars(bars), config)
    return [(trade.exit_at, trade.exit_price, trade.exit_reason) for trade in result.trades.records()]


def _through_risk(
    bars: list[Bar], source: str = "settings", target: Decimal | None = TARGET
) -> tuple[list[tuple[datetime, Decimal, str]], int]:
    start = CALENDAR.next_open(bars[1].timestamp)
    clock = SteppedClock(start)
    broker = SimulatedBroker(clock, CALENDAR, starting_cash=Decimal(100_000), fill_model=MODEL)
    config = ThroughRiskConfig(
        strategy=CrossAbove(),
        symbols=(SYMBOL,),
        replay_from=start,
        replay_until=CALENDAR.next_close(bars[-1].timestamp),
        starting_cash=Decimal(100_000),
        limits=RiskLimits(max_symbol_volatility=None),
        # The risk settings' defaults, or the strategy configuration's parameters.
        sizing=SizingSettings(stop_loss_pct=STOP, take_profit_pct=target)
        if source == "settings"
        else SizingSettings(),
        protection=ProtectiveFractions(STOP, target) if source == "configuration" else ProtectiveFractions(),
        risk_lookback_bars=21,
    )
    result = run_through_risk(config, bars, broker=broker, clock=clock, calendar=CALENDAR)
    entries = [o for o in result.orders if o.decision == APPROVED and o.side == "buy"]
    exits = [
        (
            fill.filled_at,
            fill.price,
            "take_profit" if fill.client_order_id.endswith("-tp") else "stop_loss",
        )
        for fill in result.fills
        if fill.side == "sell"
    ]
    return exits, len(entries)


@pytest.mark.parametrize("source", ["settings", "configuration"])
def test_stop_and_target_exits_agree_bar_and_price(source: str) -> None:
    bars = _bars()
    vectorised = _vectorised(bars)
    live, entries = _through_risk(bars, source)

    assert entries == 5
    assert [(at, price, reason.value) for at, price, reason in vectorised] == live
    assert [price for _at, price, _reason in live] == [95, 93, 95, 125, 95]
    assert [reason for *_rest, reason in live] == [
        "stop_loss",
        "stop_loss",
        "stop_loss",
        "take_profit",
        "stop_loss",
    ]


def test_a_stop_alone_an_oto_exits_where_the_backtest_does() -> None:
    bars = _bars()
    vectorised = _vectorised(bars, target=None)
    live, entries = _through_risk(bars, target=None)
    closed = [(at, price, reason.value) for at, price, reason in vectorised if at is not None]
    assert closed == live
    # Without a target the gap over 120 takes nothing: that bar's low still reaches the stop.
    assert [price for _at, price, _reason in live] == [95, 93, 95, 95, 95] and entries == 5


@pytest.mark.parametrize("bps", [Decimal(0), Decimal(25)])
def test_the_stop_exit_pays_the_same_slippage_in_both(bps: Decimal) -> None:
    """With slippage the levels themselves differ (entry fill vs signal close), so compare the exit
    of a gap through the stop, which fills at the open in both: the same slipped price."""
    model = FillModel(slippage=Slippage(bps))
    bars = _bars()
    config = BacktestConfig(
        initial_cash=Decimal(100_000),
        fill_model=model,
        stops=StopRules(stop_loss=STOP, take_profit=TARGET),
        allocation=Decimal("0.05"),
    )
    vectorised = run_backtest(CrossAbove(), BarSeries.from_bars(bars), config).trades.records()
    start = CALENDAR.next_open(bars[1].timestamp)
    clock = SteppedClock(start)
    broker = SimulatedBroker(clock, CALENDAR, starting_cash=Decimal(100_000), fill_model=model)
    result = run_through_risk(
        ThroughRiskConfig(
            strategy=CrossAbove(),
            symbols=(SYMBOL,),
            replay_from=start,
            replay_until=CALENDAR.next_close(bars[-1].timestamp),
            starting_cash=Decimal(100_000),
            limits=RiskLimits(max_symbol_volatility=None),
            sizing=SizingSettings(stop_loss_pct=STOP, take_profit_pct=TARGET),
            risk_lookback_bars=21,
        ),
        bars,
        broker=broker,
        clock=clock,
        calendar=CALENDAR,
    )
    gap = next(trade for trade in vectorised if trade.exit_price is not None and trade.exit_price < 94)
    live = [fill for fill in result.fills if fill.side == "sell" and fill.filled_at == gap.exit_at]
    assert len(live) == 1 and live[0].price == gap.exit_price == model.slippage.adjust(
        OrderSide.SELL, Decimal(93)
    )
