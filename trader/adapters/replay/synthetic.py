"""Deterministic synthetic 1-minute bars inside real exchange sessions, for tests and demos.

Each symbol follows a geometric Brownian motion simulated on sub-minute steps, so a minute's
high and low come from the path itself; prices sit on a 1/128 tick, volume follows the usual
U shape of a trading day. The same seed, symbols and sessions always give the same bars, on any
machine (each symbol's random stream is seeded from the seed and a CRC of its name, never
Python's salted `hash`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import numpy as np

from trader.core.market import Bar, Timeframe, normalize_symbol
from trader.core.sessions import Session

SYNTHETIC_SOURCE = "synthetic"
TICKS_PER_DOLLAR = 128
_MINUTES_PER_YEAR = 252 * 390
_TICK = Decimal(1) / Decimal(TICKS_PER_DOLLAR)  # 0.0078125, exact in decimal


@dataclass(frozen=True, slots=True)
class SyntheticMarket:
    """Parameters of the simulated market (annualised drift and volatility)."""

    seed: int = 0
    drift: float = 0.05
    volatility: float = 0.25
    start_price: float = 100.0
    start_prices: Mapping[str, float] | None = None
    mean_minute_volume: float = 20_000.0
    steps_per_minute: int = 8

    def __post_init__(self) -> None:
        if (
            self.volatility < 0
            or self.start_price <= 0
            or self.steps_per_minute < 1
            or self.mean_minute_volume < 0
        ):
            raise ValueError(f"invalid synthetic market parameters: {self}")


def _rng(seed: int, symbol: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(symbol.encode("utf-8"))])


def _symbol_bars(symbol: str, sessions: Sequence[Session], market: SyntheticMarket) -> list[Bar]:
    rng = _rng(market.seed, symbol)
    start = (market.start_prices or {}).get(symbol, market.start_price)
    log_price = math.log(start)
    steps = market.steps_per_minute
    step_years = 1.0 / (_MINUTES_PER_YEAR * steps)
    step_drift = (market.drift - 0.5 * market.volatility**2) * step_years
    step_scale = market.volatility * math.sqrt(step_years)
    # The overnight move is as wide as about a quarter of a day's moves.
    overnight_scale = market.volatility * math.sqrt(0.25 / 252)
    minute = timedelta(minutes=1)
    bars: list[Bar] = []
    for number, session in enumerate(sessions):
        if number:
            log_price += rng.normal(0.0, overnight_scale)
        count = session.duration // minute
        increments = step_drift + step_scale * rng.standard_normal((count, steps))
        path = log_price + np.cumsum(increments.ravel()).reshape(count, steps)
        ticks = np.maximum(np.rint(np.exp(path) * TICKS_PER_DOLLAR), 1).astype(np.int64)
        open_tick = max(round(math.exp(log_price) * TICKS_PER_DOLLAR), 1)
        opens = np.concatenate(([open_tick], ticks[:-1, -1]))
        closes = ticks[:, -1]
        highs = np.maximum(ticks.max(axis=1), opens)
        lows = np.minimum(ticks.min(axis=1), opens)
        position = (np.arange(count) + 0.5) / count
        profile = 0.6 + 2.4 * (2 * position - 1) ** 2  # busy at the open and the close
        volumes = np.rint(market.mean_minute_volume * profile * rng.lognormal(-0.125, 0.5, count)).astype(
            np.int64
        )
        log_price = float(path[-1, -1])
        for index in range(count):
            bars.append(
                Bar(
                    symbol=symbol,
                    timeframe=Timeframe.MINUTE1,
                    timestamp=session.open_at + index * minute,
                    open=int(opens[index]) * _TICK,
                    high=int(highs[index]) * _TICK,
                    low=int(lows[index]) * _TICK,
                    close=int(closes[index]) * _TICK,
                    volume=Decimal(int(volumes[index])),
                    source=SYNTHETIC_SOURCE,
                )
            )
    return bars


def generate_minute_bars(
    symbols: Sequence[str], sessions: Sequence[Session], market: SyntheticMarket | None = None
) -> list[Bar]:
    """1-minute bars for every symbol over every minute of the given sessions, by symbol then time."""
    chosen = market or SyntheticMarket()
    ordered_sessions = sorted(sessions, key=lambda session: session.open_at)
    bars: list[Bar] = []
    for symbol in sorted({normalize_symbol(symbol) for symbol in symbols}):
        bars.extend(_symbol_bars(symbol, ordered_sessions, chosen))
    return bars
