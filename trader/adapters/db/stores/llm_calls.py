"""Every model call of the llm strategy in `llm_calls`, which is also the answer cache.

A call is recorded whatever came of it: answered (a valid decision), refused (an answer that broke
the schema or its price rules, kept with the refusal code) or failed (timeout, HTTP error, 429: no
answer, never replayed). Answered and refused rows are replayed by (model, prompt hash), so a
backtest that builds the same prompt costs nothing and answers exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import llm_calls, risk_decisions, signals, trades

ANSWERED = "answered"
REFUSED = "refused"
FAILED = "failed"
REPLAYABLE = (ANSWERED, REFUSED)


@dataclass(frozen=True, slots=True)
class LlmCall:
    called_at: datetime
    model: str
    provider: str
    provider_model: str
    prompt_hash: str
    prompt: str
    symbol: str
    bar_at: datetime
    status: str
    strategy_name: str | None = None
    refusal_code: str | None = None
    error_message: str | None = None
    answer: str | None = None
    decision: dict[str, Any] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0
    signal_event_id: str | None = None
    id: int | None = None

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "id"}


def _call(row: Any) -> LlmCall:
    return LlmCall(**{name: row[name] for name in LlmCall.__dataclass_fields__})


class LlmCallStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, call: LlmCall) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(insert(llm_calls).returning(llm_calls.c.id), call.row())
            return int(result.scalar_one())

    async def replayable(self, model: str, prompt_hash: str) -> LlmCall | None:
        """The first answer `model` gave to this prompt (answered or refused), if it was ever asked."""
        query = (
            select(llm_calls)
            .where(
                llm_calls.c.model == model,
                llm_calls.c.prompt_hash == prompt_hash,
                llm_calls.c.status.in_(REPLAYABLE),
            )
            .order_by(llm_calls.c.id)
            .limit(1)
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _call(row)

    async def spent_since(self, model: str, since: datetime) -> Decimal:
        query = select(func.coalesce(func.sum(llm_calls.c.cost_usd), 0)).where(
            llm_calls.c.model == model, llm_calls.c.called_at >= since
        )
        async with self._engine.connect() as connection:
            return Decimal(str((await connection.execute(query)).scalar() or 0))

    async def link(self, call_ids: Sequence[int], signal_event_id: str) -> None:
        """Stamp calls with the signal they led to (the first signal wins: a replayed answer keeps
        pointing at the signal it was asked for)."""
        if not call_ids:
            return
        async with self._engine.begin() as connection:
            await connection.execute(
                update(llm_calls)
                .where(llm_calls.c.id.in_(list(call_ids)), llm_calls.c.signal_event_id.is_(None))
                .values(signal_event_id=signal_event_id)
            )

    async def usage(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Per model and status: calls, tokens, cost and mean latency in [since, until)."""
        c = llm_calls.c
        query = (
            select(
                c.model,
                c.status,
                c.refusal_code,
                func.count().label("calls"),
                func.coalesce(func.sum(c.input_tokens), 0).label("input_tokens"),
                func.coalesce(func.sum(c.output_tokens), 0).label("output_tokens"),
                func.coalesce(func.sum(c.cost_usd), 0).label("cost_usd"),
                func.coalesce(func.avg(c.latency_ms), 0).label("mean_latency_ms"),
            )
            .where(c.called_at >= since, c.called_at < until)
            .group_by(c.model, c.status, c.refusal_code)
            .order_by(c.model, c.status, c.refusal_code)
        )
        async with self._engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings().all()]

    async def recent(self, *, limit: int = 50, model: str | None = None) -> list[dict[str, Any]]:
        """The newest calls with the signal, risk decision and order each led to (None where none)."""
        c = llm_calls.c
        query = (
            select(
                llm_calls,
                signals.c.direction.label("signal_direction"),
                risk_decisions.c.decision.label("risk_decision"),
                risk_decisions.c.reasons.label("risk_reasons"),
                trades.c.client_order_id.label("order_client_order_id"),
                trades.c.status.label("order_status"),
            )
            .outerjoin(signals, signals.c.event_id == c.signal_event_id)
            .outerjoin(risk_decisions, risk_decisions.c.signal_event_id == c.signal_event_id)
            .outerjoin(trades, trades.c.risk_decision_id == risk_decisions.c.id)
            .order_by(c.id.desc())
            .limit(limit)
        )
        if model is not None:
            query = query.where(c.model == model)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [dict(row) for row in rows]

    async def count(self) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.execute(select(func.count()).select_from(llm_calls))).scalar_one())
