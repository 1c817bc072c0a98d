"""One decision of the llm strategy, the same live and in a backtest.

From the bars up to the one just closed, the position and the decision moment (the bar's close):
the news known by then, the context, the prompt, the panel's verdict, and the signal it makes.
The live strategy engine and the through-risk backtest both call `decide`, so a backtest builds
the prompt the live system built, byte for byte, and replays its recorded answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trader.adapters.db.stores.news import NewsStore
from trader.adapters.llm.panel import LlmPanel, PanelVerdict, Question
from trader.core.llm.context import Holding, decision_context
from trader.core.llm.prompt import build_prompt
from trader.core.llm.strategy import LlmOutcome, LlmStrategySettings, llm_signal
from trader.core.market import Bar


@dataclass(frozen=True, slots=True)
class LlmDecision:
    outcome: LlmOutcome
    verdict: PanelVerdict

    def features(self) -> dict[str, object]:
        """What the signal's record keeps: the outcome, every model's answer and the consensus."""
        return {"llm": {"outcome": self.outcome.outcome, **self.verdict.as_dict()}}


@dataclass
class LlmDecider:
    panel: LlmPanel
    news: NewsStore

    async def decide(
        self,
        settings: LlmStrategySettings,
        bars: Sequence[Bar],
        holding: Holding,
        *,
        decided_at: datetime,
        strategy_name: str,
    ) -> LlmDecision:
        last = bars[-1]
        known = (
            await self.news.known_at(last.symbol, decided_at, limit=settings.news_items)
            if settings.news_items
            else []
        )
        context = decision_context(
            bars,
            known,
            holding,
            decided_at=decided_at,
            context_bars=settings.context_bars,
            news_items=settings.news_items,
        )
        question = Question(build_prompt(context), last.symbol, last.timestamp, last.close, strategy_name)
        verdict = await self.panel.decide(
            question, settings.model_names(), quorum=Decimal(str(settings.quorum))
        )
        return LlmDecision(llm_signal(verdict.consensus, holding, settings), verdict)
