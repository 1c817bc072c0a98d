"""The llm strategy as the through-risk backtest calls it.

The backtest is synchronous and runs in a worker thread; the panel needs the event loop that owns
the database engine and the HTTP clients. Each decision is sent to that loop and waited for, so
the backtest asks (or replays) exactly what the live strategy engine would have at that close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from trader.adapters.llm.decider import LlmDecider, LlmDecision
from trader.core.llm.context import Holding
from trader.core.llm.strategy import LLM_STRATEGY_TYPE_NAME, LlmStrategySettings
from trader.core.market import Bar
from trader.core.strategies.closing import ClosingSignal

# Longer than any model's timeout times the panel's size: a stuck loop must not hang a backtest.
DECISION_TIMEOUT_SECONDS = 900.0


class BridgedLlmStrategy:
    def __init__(
        self,
        decider: LlmDecider,
        settings: LlmStrategySettings,
        strategy_name: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._decider = decider
        self._settings = settings
        self._strategy_name = strategy_name
        self._loop = loop
        self.decisions: list[LlmDecision] = []

    @property
    def name(self) -> str:
        return LLM_STRATEGY_TYPE_NAME

    @property
    def lookback_bars(self) -> int:
        return self._settings.lookback_bars

    def closing_signal_at(
        self, bars: Sequence[Bar], holding: Holding, decided_at: datetime
    ) -> ClosingSignal | None:
        pending = asyncio.run_coroutine_threadsafe(
            self._decider.decide(
                self._settings, bars, holding, decided_at=decided_at, strategy_name=self._strategy_name
            ),
            self._loop,
        )
        decision = pending.result(timeout=DECISION_TIMEOUT_SECONDS)
        self.decisions.append(decision)
        return decision.outcome.signal
