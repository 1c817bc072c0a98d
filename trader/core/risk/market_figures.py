"""Market figures the risk rules are fed with, computed from stored closes: the session, per-symbol
volatility and ATR, pairwise correlations and the portfolio's historical VaR."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise

import numpy as np

from trader.core.indicators import atr
from trader.core.market import Timeframe
from trader.core.portfolio import EXCHANGE_TIME_ZONE, Portfolio, trading_day_of
from trader.core.risk.context import MarketSession
from trader.core.risk.correlation import MIN_OBSERVATIONS, Correlations, coefficients_of
from trader.core.risk.var import FloatArray, annualized_volatility, historical_var, returns_from_prices
from trader.core.sessions import MarketCalendar

TRADING_DAYS_PER_YEAR = 252
REGULAR_SESSION_MINUTES = 390
# Extended hours as US brokers offer them (Alpaca: 04:00-09:30 and 16:00-20:00 ET).
PRE_MARKET_OPENS = time(4, 0)
AFTER_HOURS_CLOSES = time(20, 0)
VAR_CONFIDENCE = 0.95

Closes = Sequence[tuple[datetime, Decimal]]


def market_session(calendar: MarketCalendar, at: datetime) -> MarketSession:
    if calendar.is_open(at):
        return MarketSession.REGULAR
    local = at.astimezone(EXCHANGE_TIME_ZONE)
    session = calendar.session_for(local.date())
    if session is None:
        return MarketSession.CLOSED
    if at < session.open_at and local.time() >= PRE_MARKET_OPENS:
        return MarketSession.PRE_MARKET
    if at >= session.close_at and local.time() < AFTER_HOURS_CLOSES:
        return MarketSession.AFTER_HOURS
    return MarketSession.CLOSED


def day_started_at(at: datetime) -> datetime:
    """Midnight in New York of the trading day `at` belongs to, as aware UTC."""
    day = trading_day_of(at)
    local_midnight = datetime(day.year, day.month, day.day, tzinfo=EXCHANGE_TIME_ZONE)
    return local_midnight.astimezone(at.tzinfo)


def periods_per_year(timeframe: str | None) -> int:
    """Bars of the base timeframe in a year (a regular session is 390 minutes)."""
    if timeframe is None:
        return TRADING_DAYS_PER_YEAR
    parsed = Timeframe.parse(timeframe)
    if not parsed.is_intraday:
        return TRADING_DAYS_PER_YEAR
    per_session = timedelta(minutes=REGULAR_SESSION_MINUTES) / parsed.duration
    return int(TRADING_DAYS_PER_YEAR * per_session)


def _prices(closes: Closes) -> list[float]:
    return [float(price) for _, price in closes]


def symbol_volatility(closes: Closes, periods: int) -> Decimal | None:
    """Annualised volatility of the closes; None when fewer than three closes are known."""
    if len(closes) < 3:
        return None
    return annualized_volatility(returns_from_prices(_prices(closes)), periods)


def latest_atr(bars: Sequence[tuple[Decimal, Decimal, Decimal]], window: int = 14) -> Decimal | None:
    """The last ATR over (high, low, close) bars; None until the window has filled."""
    if len(bars) <= window:
        return None
    highs = [float(high) for high, _, _ in bars]
    lows = [float(low) for _, low, _ in bars]
    closes = [float(close) for _, _, close in bars]
    value = float(atr(highs, lows, closes, window)[-1])
    if not np.isfinite(value) or value <= 0:
        return None
    return Decimal(repr(value)).quantize(Decimal("0.00000001"))


def aligned_returns(closes_by_symbol: Mapping[str, Closes]) -> dict[str, list[float]]:
    """Returns of each symbol over the timestamps every symbol has a close for."""
    if not closes_by_symbol:
        return {}
    common = set.intersection(*({moment for moment, _ in closes} for closes in closes_by_symbol.values()))
    if len(common) < 2:
        return {symbol: [] for symbol in closes_by_symbol}
    result: dict[str, list[float]] = {}
    for symbol, closes in closes_by_symbol.items():
        prices = [float(price) for moment, price in closes if moment in common]
        result[symbol] = [float(value) for value in returns_from_prices(prices)]
    return result


class _Timeline:
    """Closes of many symbols as float rows on one shared, sorted timeline (NaN where a symbol has
    no close). Built once, it answers "the prices of these symbols at the times all of them have a
    close" with array operations instead of set intersections and lists per question."""

    def __init__(self, closes_by_symbol: Mapping[str, Closes]) -> None:
        # Only series in strictly increasing time fit one timeline cell per close; any other keeps
        # the list-based alignment, which takes closes in the order given.
        self.ordered = {symbol for symbol, closes in closes_by_symbol.items() if _increasing(closes)}
        moments = sorted({moment for symbol in self.ordered for moment, _ in closes_by_symbol[symbol]})
        column = {moment: index for index, moment in enumerate(moments)}
        self.row = {symbol: index for index, symbol in enumerate(sorted(self.ordered))}
        self.prices = np.full((len(self.row), len(moments)), np.nan)
        self.present = np.zeros((len(self.row), len(moments)), dtype=bool)
        for symbol, index in self.row.items():
            closes = closes_by_symbol[symbol]
            columns = [column[moment] for moment, _ in closes]
            self.prices[index, columns] = [float(price) for _, price in closes]
            self.present[index, columns] = True
        self.answered: dict[tuple[str, ...], Correlations] = {}


def _increasing(closes: Closes) -> bool:
    return all(earlier[0] < later[0] for earlier, later in pairwise(closes))


class CloseTable(Mapping[str, Closes]):
    """Recent closes by symbol, prepared once to answer correlation questions about its symbols.

    The risk manager judges a batch of signals against the same holdings: each signal asks for the
    correlations of its symbol and the holdings. `only(symbols)` is one such question's view; the
    views share the float prices prepared once. The figures equal `correlations_of` on plain lists.
    """

    def __init__(self, closes_by_symbol: Mapping[str, Closes], *, _timeline: _Timeline | None = None) -> None:
        self._closes = closes_by_symbol
        self._timeline = _timeline

    def only(self, symbols: Iterable[str]) -> CloseTable:
        """The closes of `symbols` (those this table has), sharing the prepared prices."""
        closes = {symbol: self._closes[symbol] for symbol in symbols if symbol in self._closes}
        return CloseTable(closes, _timeline=self._prepared())

    def __getitem__(self, symbol: str) -> Closes:
        return self._closes[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._closes)

    def __len__(self) -> int:
        return len(self._closes)

    def _prepared(self) -> _Timeline:
        if self._timeline is None:
            self._timeline = _Timeline(self._closes)
        return self._timeline

    def correlations(self) -> Correlations:
        """Pairwise correlations of the returns over the times every symbol (with two closes or
        more) has a close for; unknown with fewer than MIN_OBSERVATIONS returns."""
        usable = sorted(symbol for symbol, closes in self._closes.items() if len(closes) >= 2)
        if len(usable) < 2:
            return Correlations()
        timeline = self._prepared()
        if not all(symbol in timeline.ordered for symbol in usable):
            return Correlations.from_returns(aligned_returns({s: self._closes[s] for s in usable}))
        # Signals to sell a holding all ask about the holdings alone: one answer serves them all.
        key = tuple(usable)
        if key not in timeline.answered:
            timeline.answered[key] = _aligned_correlations(timeline, usable)
        return timeline.answered[key]


def _aligned_correlations(timeline: _Timeline, symbols: list[str]) -> Correlations:
    rows = [timeline.row[symbol] for symbol in symbols]
    prices = timeline.prices[rows][:, timeline.present[rows].all(axis=0)]
    if prices.shape[1] < 2:
        return Correlations()
    returns = _returns(prices)
    if returns.shape[1] < MIN_OBSERVATIONS:
        return Correlations()
    return Correlations.from_matrix(symbols, coefficients_of(returns))


def _returns(prices: FloatArray) -> FloatArray:
    """Row-wise `returns_from_prices`, refusing what it refuses."""
    if not np.all(np.isfinite(prices)):
        raise ValueError("prices contains NaN or infinite values; clean the series first")
    if np.any(prices <= 0):
        raise ValueError("prices must be positive to compute returns")
    returns: FloatArray = prices[:, 1:] / prices[:, :-1] - 1.0
    return returns


def correlations_of(closes_by_symbol: Mapping[str, Closes]) -> Correlations:
    table = closes_by_symbol if isinstance(closes_by_symbol, CloseTable) else CloseTable(closes_by_symbol)
    return table.correlations()


@dataclass(frozen=True, slots=True)
class ValueAtRisk:
    confidence: float
    # Loss as a fraction of equity not exceeded on `confidence` of periods; None without enough data.
    fraction: Decimal | None
    amount: Decimal | None
    observations: int


def portfolio_var(portfolio: Portfolio, closes_by_symbol: Mapping[str, Closes]) -> ValueAtRisk:
    """Historical VaR of today's holdings replayed over the stored closes (one period each)."""
    held = {p.symbol: p.quantity for p in portfolio.open_positions}
    if not held:
        return ValueAtRisk(VAR_CONFIDENCE, Decimal(0), Decimal("0.00"), 0)
    equity = portfolio.equity
    returns = aligned_returns({symbol: closes_by_symbol.get(symbol, ()) for symbol in held})
    lengths = {len(series) for series in returns.values()}
    observations = min(lengths) if lengths else 0
    if observations < 2 or equity <= 0:
        return ValueAtRisk(VAR_CONFIDENCE, None, None, observations)
    common = sorted(
        set.intersection(*({moment for moment, _ in closes_by_symbol[symbol]} for symbol in held))
    )
    pnl = np.zeros(len(common) - 1)
    for symbol, quantity in held.items():
        by_time = dict(closes_by_symbol[symbol])
        prices = np.array([float(by_time[moment]) for moment in common])
        pnl += float(quantity) * np.diff(prices)
    fraction = historical_var(pnl / float(equity), VAR_CONFIDENCE)
    return ValueAtRisk(VAR_CONFIDENCE, fraction, (equity * fraction).quantize(Decimal("0.01")), len(pnl))
