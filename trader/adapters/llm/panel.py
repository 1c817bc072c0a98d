"""The llm strategy's panel: asks each model once per prompt, records every call, keeps to budgets.

For each model, in order of preference:
1. a recorded answer to the same prompt (model, prompt hash) is replayed: free and deterministic,
   so a backtest repeats itself exactly and a redelivered bar costs nothing;
2. with `replay_only` (an offline backtest) a prompt never answered gets no vote;
3. a model whose calls today (UTC, by the wall clock: the money is real) cost its daily budget or
   more is not asked;
4. otherwise the model is asked, and the call is recorded with its tokens, cost and latency: a valid
   decision as answered, an answer that breaks the schema as refused (with its code), no answer as
   failed. Only a valid decision votes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from datetime import time as day_time
from decimal import Decimal
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from trader.adapters.db.stores.llm_calls import ANSWERED, FAILED, REFUSED, LlmCall, LlmCallStore
from trader.adapters.llm.providers import ChatModel, ModelCallError
from trader.core.llm.consensus import Consensus, Vote, weighted_consensus
from trader.core.llm.decision import Decision, DecisionRefusedError, parse_decision
from trader.core.llm.prompt import Prompt

log = logging.getLogger("trader.adapters.llm")
MILLION = Decimal(1_000_000)

ASKED = "asked"
REPLAYED = "replayed"
NOT_RECORDED = "not_recorded"
OVER_BUDGET = "over_budget"


class UnknownModelError(LookupError):
    """A configuration names a model that LLM_MODELS does not define."""


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    model: str
    source: str  # asked | replayed | not_recorded | over_budget
    status: str | None  # answered | refused | failed (None when the model was not asked)
    decision: Decision | None
    call_id: int | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "status": self.status,
            "decision": None if self.decision is None else self.decision.as_dict(),
            "call_id": self.call_id,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class PanelVerdict:
    prompt_hash: str
    answers: tuple[ModelAnswer, ...]
    consensus: Consensus | None

    @property
    def call_ids(self) -> list[int]:
        return [answer.call_id for answer in self.answers if answer.call_id is not None]

    def as_dict(self) -> dict[str, Any]:
        consensus = self.consensus
        return {
            "prompt_hash": self.prompt_hash,
            "answers": [answer.as_dict() for answer in self.answers],
            "consensus": None
            if consensus is None
            else {
                "direction": consensus.direction.value,
                "confidence": format(consensus.confidence, "f"),
                "stop_price": None if consensus.stop_price is None else format(consensus.stop_price, "f"),
                "target_price": None
                if consensus.target_price is None
                else format(consensus.target_price, "f"),
                "horizon_bars": consensus.horizon_bars,
                "agreeing": list(consensus.agreeing),
            },
        }


@dataclass(frozen=True, slots=True)
class Question:
    """What the panel is asked: a prompt about one symbol's bar, last traded at `price`."""

    prompt: Prompt
    symbol: str
    bar_at: datetime
    price: Decimal
    strategy_name: str | None = None


def _cost(model: ChatModel, input_tokens: int, output_tokens: int) -> Decimal:
    spec = model.spec
    return (
        Decimal(input_tokens) * spec.input_usd_per_million_tokens
        + Decimal(output_tokens) * spec.output_usd_per_million_tokens
    ) / MILLION


@dataclass
class LlmPanel:
    models: Sequence[ChatModel]
    calls: LlmCallStore
    wall_clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    replay_only: bool = False
    # Since start, per (model, source or status): what /llm/usage shows beside the recorded calls.
    counters: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Each model's state after its last answer: what the service's health shows (empty: all well).
    troubles: dict[str, str] = field(default_factory=dict)

    def chosen(self, names: Sequence[str]) -> list[ChatModel]:
        """The models named (all when none are), or UnknownModelError naming the missing ones."""
        by_name = {model.spec.name: model for model in self.models}
        if not names:
            return list(self.models)
        missing = [name for name in names if name not in by_name]
        if missing:
            raise UnknownModelError(
                f"unknown LLM model {', '.join(missing)}; LLM_MODELS defines {', '.join(by_name) or 'none'}"
            )
        return [by_name[name] for name in names]

    async def health(self) -> str:
        """For /health: raises naming each model in trouble (failing or over budget)."""
        if self.troubles:
            raise RuntimeError(
                "; ".join(f"{name}: {trouble}" for name, trouble in sorted(self.troubles.items()))
            )
        return f"{len(self.models)} models"

    def knowledge_cutoffs(self, names: Sequence[str]) -> dict[str, date | None]:
        return {model.spec.name: model.spec.knowledge_cutoff for model in self.chosen(names)}

    async def decide(self, question: Question, names: Sequence[str], *, quorum: Decimal) -> PanelVerdict:
        chosen = self.chosen(names)
        answers = await asyncio.gather(*(self._answer(model, question) for model in chosen))
        votes = [
            Vote(model.spec.name, model.spec.weight, answer.decision)
            for model, answer in zip(chosen, answers, strict=True)
        ]
        return PanelVerdict(
            question.prompt.prompt_hash, tuple(answers), weighted_consensus(votes, quorum=quorum)
        )

    async def _answer(self, model: ChatModel, question: Question) -> ModelAnswer:
        name = model.spec.name
        recorded = await self.calls.replayable(name, question.prompt.prompt_hash)
        if recorded is not None:
            self.counters[(name, REPLAYED)] += 1
            return self._replayed(recorded, question)
        if self.replay_only:
            self.counters[(name, NOT_RECORDED)] += 1
            return ModelAnswer(name, NOT_RECORDED, None, None, note="no recorded answer (replay only)")
        budget = model.spec.daily_budget_usd
        if budget is not None:
            now = self.wall_clock()
            spent = await self.calls.spent_since(name, datetime.combine(now.date(), day_time(0), tzinfo=UTC))
            if spent >= budget:
                self.counters[(name, OVER_BUDGET)] += 1
                self.troubles[name] = f"daily budget {budget} USD spent"
                log.warning(
                    "LLM model %s not asked: spent %s of its %s USD budget today", name, spent, budget
                )
                return ModelAnswer(name, OVER_BUDGET, None, None, note=f"daily budget {budget} USD spent")
        return await self._ask(model, question)

    @staticmethod
    def _replayed(recorded: LlmCall, question: Question) -> ModelAnswer:
        name = recorded.model
        if recorded.status == REFUSED:
            note = f"{recorded.refusal_code}: {recorded.error_message}"
            return ModelAnswer(name, REPLAYED, REFUSED, None, recorded.id, note)
        decision = parse_decision(recorded.answer or "", question.price)
        return ModelAnswer(name, REPLAYED, ANSWERED, decision, recorded.id)

    async def _ask(self, model: ChatModel, question: Question) -> ModelAnswer:
        spec = model.spec
        call = LlmCall(
            called_at=self.wall_clock(),
            model=spec.name,
            provider=spec.provider.value,
            provider_model=spec.model,
            prompt_hash=question.prompt.prompt_hash,
            prompt=question.prompt.user,
            symbol=question.symbol,
            bar_at=question.bar_at,
            status=FAILED,
            strategy_name=question.strategy_name,
        )
        started = time.perf_counter()
        decision: Decision | None = None
        try:
            reply = await model.complete(question.prompt.system, question.prompt.user)
        except ModelCallError as error:
            call = _with(call, error_message=str(error), refusal_code=error.failure.value)
            log.warning("LLM model %s failed on %s: %s", spec.name, question.symbol, error)
        else:
            call = _with(
                call,
                answer=reply.text,
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                cost_usd=_cost(model, reply.input_tokens, reply.output_tokens),
            )
            try:
                decision = parse_decision(reply.text, question.price)
                call = _with(call, status=ANSWERED, decision=decision.as_dict())
            except DecisionRefusedError as refusal:
                call = _with(
                    call, status=REFUSED, refusal_code=refusal.code.value, error_message=str(refusal)
                )
                log.warning("LLM model %s answer refused on %s: %s", spec.name, question.symbol, refusal)
        call = _with(call, latency_ms=round((time.perf_counter() - started) * 1000, 1))
        call_id = await self.calls.record(call)
        self.counters[(spec.name, call.status)] += 1
        if call.status == FAILED:
            self.troubles[spec.name] = f"last call failed: {call.error_message}"
        else:
            self.troubles.pop(spec.name, None)
        note = call.error_message or ""
        return ModelAnswer(spec.name, ASKED, call.status, decision, call_id, note)


def _with(call: LlmCall, **changes: Any) -> LlmCall:
    return replace(call, **changes)


class LlmMetricsCollector(Collector):
    """`llm_panel_answers_total{model, outcome}` read from the panel's counters at scrape time:
    outcome is answered, refused, failed (calls made), replayed, over_budget or not_recorded."""

    def __init__(self, panel: LlmPanel) -> None:
        self._panel = panel

    def collect(self) -> Iterator[CounterMetricFamily]:
        answers = CounterMetricFamily(
            "llm_panel_answers",
            "LLM panel answers since start, by model and outcome.",
            labels=["model", "outcome"],
        )
        for (model, outcome), count in sorted(self._panel.counters.items()):
            answers.add_metric([model, outcome], count)
        yield answers

    def describe(self) -> Iterator[CounterMetricFamily]:
        return iter(())
