"""The backtest engine: vectorised signals, then a loop over trades only (never over bars).

Semantics (long-only, whole units):

- Signals are decided at a bar's close. Under `FillRule.NEXT_OPEN` (default) a signal on bar t
  fills at bar t+1's open; under `FillRule.CLOSE` at bar t's close. A signal whose fill bar is
  past the data is dropped. Entries are acted on only while flat, exits only while long.
- An entry buys `affordable_quantity(free cash * allocation)` whole units at the fill price
  (slippage and commission included); all-in is allocation 1. A buy of zero units is skipped.
  An exit sells the whole position and pays commission and the regulatory fees of a sale.
- Stops (fractions of the entry fill price) are checked bar by bar while long, from the fill
  bar itself under NEXT_OPEN (the rest of that bar follows the open) and from the bar after
  the fill under CLOSE. The intrabar rule, since a bar does not say whether its high or low
  came first:
    1. the open comes first: an open at or beyond a level fills there at the open (a gap);
    2. the stop level is max(stop-loss level, trailing level); the trailing level follows the
       highest high of the bars *before* the current one (and the entry price), so a bar's own
       high never raises the stop that same bar could hit;
    3. if a bar touches both the stop level and the take-profit level, the stop is assumed hit
       first (the pessimistic reading);
    4. a pending signal exit fills at the open (NEXT_OPEN), before any intrabar stop of that
       bar; under CLOSE a stop hit during the bar comes before the close.
  Rules 1 and 3 are `trader.core.protective.protective_exit`, which the simulated broker applies
  to bracket legs. A stop exit pays the slippage of a market order; a take-profit is a limit
  order and fills at its level (or the better open), unslipped.
- Several symbols share one cash account. Events on the same bar are handled in time order:
  NEXT_OPEN: signal exits at the open, then entries at the open, then intrabar stops;
  CLOSE: intrabar stops, then signal exits, then entries at the close; ties by symbol order.
- Equity is marked at each bar's close; a position open at the end stays open (marked, not sold).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from trader.backtest.benchmark import BuyAndHold, buy_and_hold
from trader.backtest.metrics import PerformanceMetrics, compute_metrics, infer_periods_per_year
from trader.backtest.stamp import RunStamp, stamp_run
from trader.backtest.trades import EXIT_REASON_CODES, ExitReason, TradeTable
from trader.core.fills import FillModel, FillRule
from trader.core.indicators import atr, rolling_std
from trader.core.money import to_decimal
from trader.core.orders import OrderSide
from trader.core.protective import ProtectiveLeg, protective_exit
from trader.core.risk.sizing import SizingInputs, SizingMethod, SizingPolicy, size_position
from trader.core.strategies.base import Signals, Strategy
from trader.core.strategies.series import BarSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_REASON_CODE = {reason: code for code, reason in enumerate(EXIT_REASON_CODES)}


@dataclass(frozen=True, slots=True)
class StopRules:
    """Protective exits as fractions of the entry fill price (0.02 = 2%); None disables one."""

    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    trailing_stop: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("stop_loss", "take_profit", "trailing_stop"):
            value = getattr(self, name)
            if value is None:
                continue
            value = to_decimal(value)
            if value <= 0 or (name != "take_profit" and value >= 1):
                raise ValueError(f"{name} must be a fraction in (0, 1), got {value}")
            object.__setattr__(self, name, value)

    @property
    def active(self) -> bool:
        return self.stop_loss is not None or self.take_profit is not None or self.trailing_stop is not None


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    initial_cash: Decimal = Decimal(1_000_000)
    fill_model: FillModel = field(default_factory=FillModel)
    stops: StopRules = field(default_factory=StopRules)
    allocation: Decimal = Decimal(1)
    seed: int = 0
    periods_per_year: float | None = None  # None: inferred from the bar spacing
    # The risk manager's sizing code instead of `allocation` (fixed fraction, ATR, volatility target).
    sizing: SizingPolicy | None = None

    def __post_init__(self) -> None:
        if self.sizing is not None and self.sizing.method is SizingMethod.KELLY:
            raise ValueError("Kelly sizing needs win odds per signal, which a backtest does not have")
        object.__setattr__(self, "initial_cash", to_decimal(self.initial_cash))
        object.__setattr__(self, "allocation", to_decimal(self.allocation))
        if self.initial_cash <= 0:
            raise ValueError(f"initial cash must be positive, got {self.initial_cash}")
        if not 0 < self.allocation <= 1:
            raise ValueError(f"allocation must be in (0, 1], got {self.allocation}")

    def describe(self) -> dict[str, object]:
        fill = self.fill_model
        return {
            "initial_cash": str(self.initial_cash),
            "fill_rule": str(fill.rule),
            "slippage_bps": str(fill.slippage.basis_points),
            "commission": {
                "per_share": str(fill.commission.per_share),
                "rate": str(fill.commission.rate),
                "minimum": str(fill.commission.minimum),
            },
            "regulatory_fees": {
                "sec_fee_rate": str(fill.fees.sec_fee_rate),
                "taf_per_share": str(fill.fees.taf_per_share),
                "taf_max_per_trade": str(fill.fees.taf_max_per_trade),
            },
            "stops": {
                "stop_loss": None if self.stops.stop_loss is None else str(self.stops.stop_loss),
                "take_profit": None if self.stops.take_profit is None else str(self.stops.take_profit),
                "trailing_stop": None if self.stops.trailing_stop is None else str(self.stops.trailing_stop),
            },
            "allocation": str(self.allocation),
            "periods_per_year": self.periods_per_year,
            **({} if self.sizing is None else {"sizing": _describe_sizing(self.sizing)}),
        }


def _describe_sizing(policy: SizingPolicy) -> dict[str, object]:
    return {
        "method": policy.method.value,
        "fraction": str(policy.fraction),
        "risk_fraction": str(policy.risk_fraction),
        "atr_multiple": str(policy.atr_multiple),
        "target_volatility": str(policy.target_volatility),
    }


SIZING_ATR_WINDOW = 14
SIZING_VOLATILITY_WINDOW = 20


@dataclass(frozen=True, slots=True, eq=False)
class _SizingColumns:
    """Per-symbol inputs the sizing methods read, as known at each signal bar's close."""

    atr: list[FloatArray]
    annual_volatility: list[FloatArray]


def _sizing_columns(series_list: Sequence[BarSeries], periods_per_year: float) -> _SizingColumns:
    atrs, volatilities = [], []
    for series in series_list:
        atrs.append(atr(series.high, series.low, series.close, SIZING_ATR_WINDOW))
        returns = np.full(len(series), np.nan)
        returns[1:] = np.log(series.close[1:] / series.close[:-1])
        volatility = np.full(len(series), np.nan)
        volatility[1:] = rolling_std(returns[1:], SIZING_VOLATILITY_WINDOW) * math.sqrt(periods_per_year)
        volatilities.append(volatility)
    return _SizingColumns(atrs, volatilities)


def _sized_quantity(
    policy: SizingPolicy,
    *,
    equity: float,
    cash: float,
    price: float,
    atr_value: float,
    volatility: float,
) -> float:
    """Whole shares by the risk manager's sizing; 0 while the method's input is still warming up."""
    if policy.method is SizingMethod.ATR and not (atr_value > 0):
        return 0.0
    if policy.method is SizingMethod.VOLATILITY_TARGET and not (volatility > 0):
        return 0.0
    inputs = SizingInputs(
        equity=to_decimal(max(equity, 0.0)),
        price=to_decimal(price),
        buying_power=to_decimal(max(cash, 0.0)),
        atr=to_decimal(atr_value) if atr_value > 0 else None,
        annual_volatility=to_decimal(volatility) if volatility > 0 else None,
    )
    return float(size_position(policy, inputs))


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    stamp: RunStamp
    timestamps_ns: IntArray
    equity: FloatArray
    cash: FloatArray
    trades: TradeTable
    metrics: PerformanceMetrics
    config: BacktestConfig
    series: tuple[BarSeries, ...]

    @property
    def final_equity(self) -> Decimal:
        return self.metrics.final_equity

    def buy_and_hold(self) -> BuyAndHold:
        """The same symbols bought at the start and held, with the same costs (see benchmark.py).
        Computed on request: searches and sweeps run thousands of backtests and show none of them."""
        return buy_and_hold(
            self.series,
            initial_cash=float(self.config.initial_cash),
            fill_model=self.config.fill_model,
            periods_per_year=self.metrics.periods_per_year,
        )


@dataclass(slots=True)
class _Ledger:
    """Fills and round trips as they happen, in plain lists (appends are cheap; arrays at the end)."""

    fill_bar: list[int] = field(default_factory=list)
    fill_symbol: list[int] = field(default_factory=list)
    fill_quantity: list[float] = field(default_factory=list)
    fill_cash: list[float] = field(default_factory=list)
    symbol_index: list[int] = field(default_factory=list)
    entry_bar: list[int] = field(default_factory=list)
    exit_bar: list[int] = field(default_factory=list)
    entry_price: list[float] = field(default_factory=list)
    exit_price: list[float] = field(default_factory=list)
    quantity: list[float] = field(default_factory=list)
    entry_commission: list[float] = field(default_factory=list)
    exit_commission: list[float] = field(default_factory=list)
    exit_fees: list[float] = field(default_factory=list)
    exit_reason: list[int] = field(default_factory=list)


def _signal_bars(signals: Signals) -> tuple[IntArray, IntArray]:
    clean = signals.without_conflicts()
    return np.flatnonzero(clean.entries).astype(np.int64), np.flatnonzero(clean.exits).astype(np.int64)


def pair_signals(entry_bars: IntArray, exit_bars: IntArray) -> tuple[IntArray, IntArray]:
    """The signal bars that change state when starting flat and ignoring repeats.

    Returns (entries, exits) with entries[i] < exits[i] < entries[i+1]; exits may be one shorter
    (the last position is still open). Valid only when nothing but signals ends a position.
    """
    bars = np.concatenate((entry_bars, exit_bars))
    is_entry = np.concatenate((np.ones(entry_bars.size, np.bool_), np.zeros(exit_bars.size, np.bool_)))
    order = np.argsort(bars, kind="stable")
    bars, is_entry = bars[order], is_entry[order]
    keep = np.empty(bars.size, np.bool_)
    if bars.size:
        keep[0] = is_entry[0]
        keep[1:] = is_entry[1:] != is_entry[:-1]
    kept_bars, kept_is_entry = bars[keep], is_entry[keep]
    return kept_bars[kept_is_entry], kept_bars[~kept_is_entry]


def _simulate_single_without_stops(
    series: BarSeries, signals: Signals, config: BacktestConfig
) -> _Ledger | None:
    """Fast path for one symbol and no stops: pairing is vectorised, the loop runs per trade.

    Returns None when a buy would be zero units, because skipping it changes the pairing; the
    general path handles that case.
    """
    model = config.fill_model
    offset = model.rule.bar_offset
    size = len(series)
    entry_signals, exit_signals = pair_signals(*_signal_bars(signals))
    entry_fill = entry_signals + offset
    entry_fill = entry_fill[entry_fill < size]
    exit_fill = exit_signals[: entry_fill.size] + offset
    exit_fill = exit_fill[exit_fill < size]
    prices = series.open if model.rule is FillRule.NEXT_OPEN else series.close
    buy_prices = model.slippage.adjust_array(OrderSide.BUY, prices[entry_fill]).tolist()
    sell_prices = model.slippage.adjust_array(OrderSide.SELL, prices[exit_fill]).tolist()
    commission, fees = model.commission, model.fees
    free = commission.is_free
    fee_free = fees.is_free
    allocation = float(config.allocation)
    cash = float(config.initial_cash)
    quantities: list[float] = []
    entry_commissions: list[float] = []
    exit_commissions: list[float] = []
    exit_fees: list[float] = []
    fill_cash: list[float] = []
    exits = len(sell_prices)
    for trade, buy_price in enumerate(buy_prices):
        budget = cash * allocation if allocation != 1.0 else cash
        if free:
            quantity = float(budget // buy_price)
            paid = 0.0
        else:
            quantity = model.affordable_quantity_float(budget, buy_price)
            paid = commission.charge_float(quantity, buy_price)
        if quantity <= 0.0 or math.isnan(quantity):
            return None
        spent = quantity * buy_price + paid
        cash -= spent
        quantities.append(quantity)
        entry_commissions.append(paid)
        fill_cash.append(-spent)
        if trade < exits:
            sell_price = sell_prices[trade]
            received_commission = 0.0 if free else commission.charge_float(quantity, sell_price)
            fee = 0.0 if fee_free else fees.charge_sale_float(quantity, sell_price)
            received = quantity * sell_price - received_commission - fee
            cash += received
            exit_commissions.append(received_commission)
            exit_fees.append(fee)
            fill_cash.append(received)
    ledger = _Ledger()
    trades = len(quantities)
    ledger.symbol_index = [0] * trades
    ledger.entry_bar = entry_fill.tolist()
    ledger.exit_bar = exit_fill.tolist() + [-1] * (trades - exits)
    ledger.entry_price = buy_prices
    ledger.exit_price = sell_prices + [math.nan] * (trades - exits)
    ledger.quantity = quantities
    ledger.entry_commission = entry_commissions
    ledger.exit_commission = exit_commissions + [0.0] * (trades - exits)
    ledger.exit_fees = exit_fees + [0.0] * (trades - exits)
    signal_code, open_code = _REASON_CODE[ExitReason.SIGNAL], _REASON_CODE[ExitReason.OPEN]
    ledger.exit_reason = [signal_code] * exits + [open_code] * (trades - exits)
    fill_bars = np.empty(trades + exits, np.int64)
    fill_bars[0::2] = entry_fill
    fill_bars[1::2] = exit_fill
    fill_quantity = np.empty(trades + exits)
    fill_quantity[0::2] = quantities
    fill_quantity[1::2] = -np.asarray(quantities[:exits])
    ledger.fill_bar = fill_bars.tolist()
    ledger.fill_symbol = [0] * (trades + exits)
    ledger.fill_quantity = fill_quantity.tolist()
    ledger.fill_cash = fill_cash
    return ledger


# Event phases within one bar (lower first).
_NEXT_OPEN_PHASES = {"signal_exit": 0, "entry": 1, "stop": 2}
_CLOSE_PHASES = {"stop": 0, "signal_exit": 1, "entry": 2}


def first_stop(
    series: BarSeries, start: int, stop: int, entry_price: float, rules: StopRules
) -> tuple[int, float, ExitReason] | None:
    """First bar in [start, stop) where a protective exit triggers: (bar, raw exit price, reason)."""
    if start >= stop:
        return None
    opens = series.open[start:stop]
    highs = series.high[start:stop]
    lows = series.low[start:stop]
    count = stop - start
    stop_loss_level = -math.inf if rules.stop_loss is None else entry_price * (1.0 - float(rules.stop_loss))
    level: FloatArray = np.full(count, stop_loss_level)
    trailing: FloatArray | None = None
    if rules.trailing_stop is not None:
        previous_high = np.empty(count)
        previous_high[0] = entry_price
        previous_high[1:] = highs[:-1]
        trailing = np.maximum.accumulate(previous_high) * (1.0 - float(rules.trailing_stop))
        level = np.maximum(level, trailing)
    stop_hit = lows <= level
    take_profit_level = math.inf
    if rules.take_profit is not None:
        take_profit_level = entry_price * (1.0 + float(rules.take_profit))
        any_hit = stop_hit | (highs >= take_profit_level)
    else:
        any_hit = stop_hit
    first = int(np.argmax(any_hit))
    if not any_hit[first]:
        return None
    # The bar's decision is the simulated broker's (trader.core.protective): one intrabar rule.
    bar_level = float(level[first])
    hit = protective_exit(
        OrderSide.BUY,
        bar_open=Decimal(float(opens[first])),
        high=Decimal(float(highs[first])),
        low=Decimal(float(lows[first])),
        stop_loss=None if bar_level == -math.inf else Decimal(bar_level),
        take_profit=None if take_profit_level == math.inf else Decimal(take_profit_level),
    )
    assert hit is not None
    if hit.leg is ProtectiveLeg.TAKE_PROFIT:
        return start + first, float(hit.price), ExitReason.TAKE_PROFIT
    reason = ExitReason.STOP_LOSS
    if trailing is not None and float(trailing[first]) > stop_loss_level:
        reason = ExitReason.TRAILING_STOP
    return start + first, float(hit.price), reason


def _simulate_general(
    series_list: Sequence[BarSeries], signals_list: Sequence[Signals], config: BacktestConfig
) -> _Ledger:
    model = config.fill_model
    rule = model.rule
    offset = rule.bar_offset
    phases = _NEXT_OPEN_PHASES if rule is FillRule.NEXT_OPEN else _CLOSE_PHASES
    size = len(series_list[0])
    buy_factor = 1.0 + model.slippage.fraction
    sell_factor = 1.0 - model.slippage.fraction
    commission = model.commission
    allocation = float(config.allocation)
    stops = config.stops
    use_stops = stops.active
    sizing = config.sizing
    sizing_columns = (
        _sizing_columns(
            series_list,
            config.periods_per_year or infer_periods_per_year(series_list[0].timestamps_ns),
        )
        if sizing is not None
        else None
    )
    entry_lists: list[list[int]] = []
    exit_lists: list[list[int]] = []
    for signals in signals_list:
        entries, exits = _signal_bars(signals)
        entry_lists.append(entries.tolist())
        exit_lists.append(exits.tolist())
    fill_prices = [s.open if rule is FillRule.NEXT_OPEN else s.close for s in series_list]

    # Heap items: (bar, phase, symbol, kind, payload...). One pending event per symbol at a time.
    heap: list[tuple[int, int, int, str, int, float, int]] = []
    ledger = _Ledger()
    cash = float(config.initial_cash)
    open_trade: dict[int, int] = {}  # symbol -> row in the ledger's trade columns

    def schedule_entry(symbol: int, first_signal_bar: int) -> None:
        candidates = entry_lists[symbol]
        position = bisect_left(candidates, first_signal_bar)
        if position < len(candidates) and candidates[position] + offset < size:
            signal_bar = candidates[position]
            heapq.heappush(heap, (signal_bar + offset, phases["entry"], symbol, "entry", signal_bar, 0.0, 0))

    def schedule_exit(symbol: int, signal_bar: int, fill_bar: int, entry_price: float) -> None:
        candidates = exit_lists[symbol]
        position = bisect_right(candidates, signal_bar)
        exit_signal = candidates[position] if position < len(candidates) else size
        exit_fill = exit_signal + offset
        if use_stops:
            scan_start = fill_bar if rule is FillRule.NEXT_OPEN else fill_bar + 1
            scan_stop = min(exit_fill if rule is FillRule.NEXT_OPEN else exit_fill + 1, size)
            hit = first_stop(series_list[symbol], scan_start, scan_stop, entry_price, stops)
            if hit is not None:
                bar, price, reason = hit
                heapq.heappush(heap, (bar, phases["stop"], symbol, "stop", bar, price, _REASON_CODE[reason]))
                return
        if exit_fill < size:
            heapq.heappush(
                heap, (exit_fill, phases["signal_exit"], symbol, "signal_exit", exit_signal, 0.0, 0)
            )

    for symbol in range(len(series_list)):
        schedule_entry(symbol, 0)

    while heap:
        bar, _phase, symbol, kind, signal_bar, stop_price, reason_code = heapq.heappop(heap)
        if kind == "entry":
            buy_price = float(fill_prices[symbol][bar]) * buy_factor
            quantity = model.affordable_quantity_float(cash * allocation, buy_price)
            if sizing is not None and sizing_columns is not None:
                marked = sum(
                    ledger.quantity[row] * float(fill_prices[held][bar]) for held, row in open_trade.items()
                )
                wanted = _sized_quantity(
                    sizing,
                    equity=cash + marked,
                    cash=cash,
                    price=buy_price,
                    atr_value=float(sizing_columns.atr[symbol][signal_bar]),
                    volatility=float(sizing_columns.annual_volatility[symbol][signal_bar]),
                )
                quantity = min(wanted, model.affordable_quantity_float(cash, buy_price))
            if quantity <= 0.0:
                schedule_entry(symbol, signal_bar + 1)
                continue
            paid = commission.charge_float(quantity, buy_price)
            spent = quantity * buy_price + paid
            cash -= spent
            open_trade[symbol] = len(ledger.entry_bar)
            ledger.symbol_index.append(symbol)
            ledger.entry_bar.append(bar)
            ledger.exit_bar.append(-1)
            ledger.entry_price.append(buy_price)
            ledger.exit_price.append(math.nan)
            ledger.quantity.append(quantity)
            ledger.entry_commission.append(paid)
            ledger.exit_commission.append(0.0)
            ledger.exit_fees.append(0.0)
            ledger.exit_reason.append(_REASON_CODE[ExitReason.OPEN])
            ledger.fill_bar.append(bar)
            ledger.fill_symbol.append(symbol)
            ledger.fill_quantity.append(quantity)
            ledger.fill_cash.append(-spent)
            schedule_exit(symbol, signal_bar, bar, buy_price)
            continue
        row = open_trade.pop(symbol)
        quantity = ledger.quantity[row]
        if kind == "stop":
            # A stop becomes a market order (slipped); a take-profit is a limit, never filled worse.
            take_profit = reason_code == _REASON_CODE[ExitReason.TAKE_PROFIT]
            sell_price = stop_price if take_profit else stop_price * sell_factor
            next_entry_from = bar
        else:
            sell_price = float(fill_prices[symbol][bar]) * sell_factor
            reason_code = _REASON_CODE[ExitReason.SIGNAL]
            next_entry_from = signal_bar + 1
        paid = commission.charge_float(quantity, sell_price)
        fee = model.fees.charge_sale_float(quantity, sell_price)
        received = quantity * sell_price - paid - fee
        cash += received
        ledger.exit_bar[row] = bar
        ledger.exit_price[row] = sell_price
        ledger.exit_commission[row] = paid
        ledger.exit_fees[row] = fee
        ledger.exit_reason[row] = reason_code
        ledger.fill_bar.append(bar)
        ledger.fill_symbol.append(symbol)
        ledger.fill_quantity.append(-quantity)
        ledger.fill_cash.append(received)
        schedule_entry(symbol, next_entry_from)
    return ledger


def _check_aligned(series_list: Sequence[BarSeries]) -> None:
    if not series_list:
        raise ValueError("need at least one symbol")
    first = series_list[0]
    if len(first) < 2:
        raise ValueError("need at least two bars")
    symbols = [series.symbol for series in series_list]
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"symbols must be distinct, got {symbols}")
    for series in series_list[1:]:
        if not np.array_equal(series.timestamps_ns, first.timestamps_ns):
            raise ValueError(
                f"{series.symbol} is not aligned with {first.symbol}: align bars to one time index first"
            )


def simulate(
    series_list: Sequence[BarSeries], signals_list: Sequence[Signals], config: BacktestConfig
) -> tuple[TradeTable, FloatArray, FloatArray]:
    """Trades, cash and equity curves for precomputed signals (one Signals per series)."""
    _check_aligned(series_list)
    if len(signals_list) != len(series_list):
        raise ValueError("need one Signals per symbol")
    size = len(series_list[0])
    for series, signals in zip(series_list, signals_list, strict=True):
        if len(signals) != size:
            raise ValueError(f"{series.symbol}: {len(signals)} signals for {size} bars")
    ledger = None
    if len(series_list) == 1 and not config.stops.active and config.sizing is None:
        ledger = _simulate_single_without_stops(series_list[0], signals_list[0], config)
    if ledger is None:
        ledger = _simulate_general(series_list, signals_list, config)

    fill_bar = np.asarray(ledger.fill_bar, dtype=np.int64)
    fill_symbol = np.asarray(ledger.fill_symbol, dtype=np.int64)
    fill_quantity = np.asarray(ledger.fill_quantity, dtype=np.float64)
    cash_changes: FloatArray = np.bincount(
        fill_bar, weights=np.asarray(ledger.fill_cash, dtype=np.float64), minlength=size
    ).astype(np.float64)
    cash_changes[0] += float(config.initial_cash)
    cash: FloatArray = np.cumsum(cash_changes)
    equity = cash.copy()
    for symbol, series in enumerate(series_list):
        mine = fill_symbol == symbol
        if not mine.any():
            continue
        held = np.cumsum(np.bincount(fill_bar[mine], weights=fill_quantity[mine], minlength=size))
        equity += held * series.close
    table = TradeTable(
        symbols=tuple(series.symbol for series in series_list),
        timestamps_ns=series_list[0].timestamps_ns,
        symbol_index=np.asarray(ledger.symbol_index, dtype=np.int64),
        entry_bar=np.asarray(ledger.entry_bar, dtype=np.int64),
        exit_bar=np.asarray(ledger.exit_bar, dtype=np.int64),
        entry_price=np.asarray(ledger.entry_price, dtype=np.float64),
        exit_price=np.asarray(ledger.exit_price, dtype=np.float64),
        quantity=np.asarray(ledger.quantity, dtype=np.float64),
        entry_commission=np.asarray(ledger.entry_commission, dtype=np.float64),
        exit_commission=np.asarray(ledger.exit_commission, dtype=np.float64),
        exit_fees=np.asarray(ledger.exit_fees, dtype=np.float64),
        exit_reason=np.asarray(ledger.exit_reason, dtype=np.int64),
    )
    return table, cash, equity


def _exposure(table: TradeTable, size: int) -> float:
    """Share of bars (marked at the close) on which any position was held."""
    if len(table) == 0:
        return 0.0
    change = np.zeros(size + 1, dtype=np.int64)
    np.add.at(change, table.entry_bar, 1)
    closed = table.exit_bar >= 0
    np.add.at(change, table.exit_bar[closed], -1)
    held = np.cumsum(change[:size]) > 0
    return float(held.mean())


def run_backtest(
    strategy: Strategy,
    data: BarSeries | Sequence[BarSeries],
    config: BacktestConfig | None = None,
) -> BacktestResult:
    """Run `strategy` over one symbol or several aligned symbols sharing one cash account."""
    config = config or BacktestConfig()
    series_list = [data] if isinstance(data, BarSeries) else list(data)
    _check_aligned(series_list)
    signals_list = [strategy.generate(series) for series in series_list]
    table, cash, equity = simulate(series_list, signals_list, config)
    timestamps = series_list[0].timestamps_ns
    periods = config.periods_per_year or infer_periods_per_year(timestamps)
    metrics = compute_metrics(
        equity=equity,
        initial_cash=float(config.initial_cash),
        trade_profit=table.profit[table.closed],
        exposure=_exposure(table, len(timestamps)),
        periods_per_year=periods,
        trade_count=len(table),
    )
    stamp = stamp_run(
        series_list,
        strategy_name=strategy.name,
        parameters=strategy.parameters(),
        config=config.describe(),
        seed=config.seed,
    )
    return BacktestResult(
        stamp=stamp,
        timestamps_ns=timestamps,
        equity=equity,
        cash=cash,
        trades=table,
        metrics=metrics,
        config=config,
        series=tuple(series_list),
    )
