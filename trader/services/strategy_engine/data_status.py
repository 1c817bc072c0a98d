"""Is each configuration's data there? Counted in its own timeframe, with the reason when it is not.

A configuration of timeframe T needs `lookback_bars` bars of T: stored base bars when T is the base,
else the base bars aggregated into T. A timeframe that cannot be built from the stored bars, or is not
announced live, is a configuration that never trades: that is said here and, once per cause, in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trader.adapters.db.stores.market_data import MarketDataStore
from trader.core.market import Timeframe
from trader.services.common.timeframes import buildable_from

log = logging.getLogger("trader.services.strategy_engine")


@dataclass(frozen=True, slots=True)
class TimeframeSupport:
    """Which timeframes the stored bars can feed, and which are announced as they close."""

    base: Timeframe
    live: tuple[Timeframe, ...]

    def problem(self, timeframe: Timeframe) -> str | None:
        """Why a configuration of `timeframe` is never evaluated, or None."""
        if not buildable_from(self.base, timeframe):
            return (
                f"market_data holds {self.base.value} bars and {timeframe.value} bars cannot be built from "
                f"them: this configuration is never evaluated (use {self.base.value} or a multiple of it)"
            )
        if timeframe is not self.base and timeframe not in self.live:
            announced = ", ".join(t.value for t in (self.base, *self.live))
            return (
                f"{timeframe.value} bars are not announced (announced: {announced}; see "
                "DATA_LIVE_TIMEFRAMES): this configuration is never evaluated"
            )
        return None


class TimeframeWarnings:
    """Logs each (configuration, cause) once, however many bars or status calls meet it."""

    def __init__(self) -> None:
        self._said: set[tuple[str, str]] = set()

    def warn(self, configuration: str, problem: str) -> None:
        if (configuration, problem) not in self._said:
            self._said.add((configuration, problem))
            log.warning("strategy %s: %s", configuration, problem)


async def symbols_status(
    store: MarketDataStore,
    support: TimeframeSupport,
    configs: Sequence[tuple[Any, int, str | None, Sequence[str]]],
) -> list[dict[str, Any]]:
    """One row per (configuration, symbol); `configs` holds (config, lookback needed or -1, why
    invalid, the symbols it trades)."""
    counts: dict[Timeframe, dict[str, tuple[int, Any]]] = {}
    rows = []
    for config, needed, invalid, symbols in configs:
        timeframe = Timeframe.parse(config.timeframe)
        problem = invalid or support.problem(timeframe)
        if problem is None and timeframe not in counts:
            counts[timeframe] = await store.bucket_counts(support.base, timeframe)
        for symbol in symbols:
            available, latest = counts.get(timeframe, {}).get(symbol, (0, None))
            ready = problem is None and needed > 0 and available >= needed
            rows.append(
                {
                    "strategy": config.name,
                    "enabled": config.enabled,
                    "symbol": symbol,
                    "timeframe": timeframe.value,
                    "bars_available": available,
                    "lookback_needed": needed,
                    "ready": ready,
                    "latest_bar_at": latest.isoformat() if latest else None,
                    "reason": None
                    if ready
                    else _reason(problem, symbol, timeframe, support.base, available, needed),
                }
            )
    return rows


def _reason(
    problem: str | None, symbol: str, timeframe: Timeframe, base: Timeframe, available: int, needed: int
) -> str:
    if problem is not None:
        return problem
    built = "" if timeframe is base else f" (built from the stored {base.value} bars)"
    if available == 0:
        return f"no {timeframe.value} bars of {symbol}{built}: collect data first"
    return f"{available} of the {needed} {timeframe.value} bars its lookback needs{built}"
