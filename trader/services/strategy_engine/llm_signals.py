"""The llm strategy in the live strategy engine: a closed bar in, a signal record (or none) out.

The window is read raw from `market_data` (the models see prices as traded), the position and the
portfolio's exposure from the books, and the decision moment is the bar's close, so a redelivered
bar builds the same prompt and replays the recorded answer instead of paying twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from trader.adapters.db.stores.llm_calls import LlmCallStore
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.stores.news import NewsStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.signals import SignalRecord
from trader.adapters.db.tables import account_snapshots
from trader.adapters.llm.decider import LlmDecider
from trader.adapters.llm.panel import LlmPanel
from trader.backtest.through_risk import bar_close_at
from trader.core.events import BarClosed, bar_from_event, new_event_id
from trader.core.llm.context import Holding
from trader.core.llm.strategy import LlmStrategySettings
from trader.core.money import to_price
from trader.services.common.resources import Resources

log = logging.getLogger("trader.services.strategy_engine")


@dataclass(frozen=True, slots=True)
class LlmProposal:
    record: SignalRecord | None
    call_ids: tuple[int, ...]


@dataclass
class LlmSignals:
    resources: Resources
    panel: LlmPanel

    def __post_init__(self) -> None:
        engine = self.resources.engine
        self.calls = LlmCallStore(engine)
        self.bars = MarketDataStore(engine)
        self.positions = PositionStore(engine)
        self.decider = LlmDecider(self.panel, NewsStore(engine))

    async def holding(self, symbol: str) -> Holding:
        """The symbol's position and the gross exposure of all positions over the latest equity."""
        held = [stored for stored in await self.positions.all() if stored.position.quantity]
        mine = next((stored.position for stored in held if stored.symbol == symbol), None)
        gross = sum(
            (abs(s.position.quantity) * (s.market_price or s.position.average_cost) for s in held), Decimal(0)
        )
        async with self.resources.engine.connect() as connection:
            equity = (
                await connection.execute(
                    select(account_snapshots.c.equity).order_by(account_snapshots.c.timestamp.desc()).limit(1)
                )
            ).scalar()
        base = Decimal(equity) if equity else self.resources.settings.simulated_starting_cash
        return Holding(
            quantity=mine.quantity if mine else Decimal(0),
            average_cost=mine.average_cost if mine else None,
            gross_exposure=(gross / base).quantize(Decimal("0.0001")) if base > 0 else Decimal(0),
            positions_open=len(held),
        )

    async def propose(
        self, strategy_name: str, settings: LlmStrategySettings, bar: BarClosed, timeframe: str, now: datetime
    ) -> LlmProposal:
        window = await self.bars.bars(
            bar.symbol,
            end=bar.bar_at + timedelta(microseconds=1),
            limit=settings.lookback_bars,
            newest_first=True,
            timeframe=bar.timeframe,
        )
        window.reverse()
        if not window or window[-1].timestamp != bar.bar_at:
            window = [*window, bar_from_event(bar)]
        decided_at = bar_close_at(window[-1], self.resources.calendar)
        decision = await self.decider.decide(
            settings,
            window,
            await self.holding(bar.symbol),
            decided_at=decided_at,
            strategy_name=strategy_name,
        )
        call_ids = tuple(decision.verdict.call_ids)
        signal = decision.outcome.signal
        if signal is None:
            log.info(
                "llm strategy %s on %s %s: %s",
                strategy_name,
                bar.symbol,
                bar.bar_at.isoformat(),
                decision.outcome.outcome,
            )
            return LlmProposal(None, call_ids)
        consensus = decision.verdict.consensus
        agreeing = ", ".join(consensus.agreeing) if consensus else "fallback"
        record = SignalRecord(
            event_id=new_event_id(),
            strategy_name=strategy_name,
            symbol=bar.symbol,
            timeframe=timeframe,
            bar_timestamp=bar.bar_at,
            direction=signal.direction.value,
            strength=signal.strength,
            price=to_price(bar.close),
            timestamp=now,
            reason=f"llm {decision.outcome.outcome} (models: {agreeing})",
            features={"lookback_bars": settings.lookback_bars, **decision.features()},
            stop_price=signal.stop_price,
            target_price=signal.target_price,
        )
        return LlmProposal(record, call_ids)

    async def usage(self, day: date) -> dict[str, Any]:
        """GET /llm/usage: per configured model, the day's calls, tokens, cost, budget and refusals."""
        since = datetime.combine(day, time(0), tzinfo=UTC)
        until = since + timedelta(days=1)
        rows = await self.calls.usage(since, until)
        models = [_model_usage(model.spec, rows, self.panel) for model in self.panel.models]
        return {
            "day": day.isoformat(),
            "since": since.isoformat(),
            "until": until.isoformat(),
            "models": models,
            "totals": {
                "calls": sum(item["calls"] for item in models),
                "refused": sum(item["refused"] for item in models),
                "failed": sum(item["failed"] for item in models),
                "cost_usd": format(sum((Decimal(item["cost_usd"]) for item in models), Decimal(0)), "f"),
            },
        }


def _model_usage(spec: Any, rows: list[dict[str, Any]], panel: LlmPanel) -> dict[str, Any]:
    mine = [row for row in rows if row["model"] == spec.name]
    by_status = {status: 0 for status in ("answered", "refused", "failed")}
    refusals: dict[str, int] = {}
    failures: dict[str, int] = {}
    for row in mine:
        by_status[row["status"]] = by_status.get(row["status"], 0) + int(row["calls"])
        if row["status"] == "refused":
            refusals[row["refusal_code"] or "unknown"] = int(row["calls"])
        if row["status"] == "failed":
            failures[row["refusal_code"] or "unknown"] = int(row["calls"])
    calls = sum(int(row["calls"]) for row in mine)
    cost = sum((Decimal(str(row["cost_usd"])) for row in mine), Decimal(0))
    latency = sum(float(row["mean_latency_ms"]) * int(row["calls"]) for row in mine) / calls if calls else 0.0
    budget = spec.daily_budget_usd
    return {
        "model": spec.name,
        "provider": spec.provider.value,
        "provider_model": spec.model,
        "weight": format(spec.weight, "f"),
        "knowledge_cutoff": spec.knowledge_cutoff.isoformat() if spec.knowledge_cutoff else None,
        "input_usd_per_million_tokens": format(spec.input_usd_per_million_tokens, "f"),
        "output_usd_per_million_tokens": format(spec.output_usd_per_million_tokens, "f"),
        "daily_budget_usd": None if budget is None else format(budget, "f"),
        "cost_usd": format(cost, "f"),
        "budget_left_usd": None if budget is None else format(max(budget - cost, Decimal(0)), "f"),
        "over_budget": budget is not None and cost >= budget,
        "calls": calls,
        **by_status,
        "refusals_by_code": refusals,
        "failures_by_kind": failures,
        "input_tokens": sum(int(row["input_tokens"]) for row in mine),
        "output_tokens": sum(int(row["output_tokens"]) for row in mine),
        "mean_latency_ms": round(latency, 1),
        "since_start": {
            source: panel.counters[(spec.name, source)]
            for source in ("replayed", "over_budget", "not_recorded")
        },
    }
