"""`trader backtest llm --through-risk`: the llm strategy replayed through the risk manager.

    trader backtest llm -p models=claude,local --symbols AAPL --start 2024-03-01 --end 2024-04-01
    trader backtest llm ... --llm-replay-only          # never ask a model: recorded answers only

Answers are read from (and new ones recorded in) this system's `llm_calls`, so a second run of the
same backtest, or a backtest of days the live system traded, replays what the models said: the
same orders, no call, no cost. A run whose first day is not after every chosen model's knowledge
cutoff is refused unless the configuration says allow_before_cutoff=true, and then its report says
that the models may have known what happened next.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from trader.core.llm.cutoff import cutoff_breaches
from trader.core.llm.strategy import LlmStrategySettings


class BeforeCutoffError(ValueError):
    """The backtest starts before a model's knowledge cutoff and the configuration does not allow it."""


@dataclass(slots=True)
class LlmBacktestReport:
    models: list[str]
    knowledge_cutoffs: dict[str, str | None]
    before_cutoff: list[str]
    allowed_before_cutoff: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def calls_made(self) -> int:
        return sum(
            per_model.get(status, 0)
            for per_model in self.counts.values()
            for status in ("answered", "refused", "failed")
        )

    @property
    def answers_replayed(self) -> int:
        return sum(per_model.get("replayed", 0) for per_model in self.counts.values())

    def lines(self) -> list[str]:
        lines = [
            f"models {', '.join(self.models)}: {self.calls_made} calls made, "
            f"{self.answers_replayed} recorded answers replayed"
        ]
        for problem in self.before_cutoff:
            lines.append(
                f"WARNING: {problem}; the model may have known what happened next, so these results "
                "measure its memory as much as its judgement (allowed by allow_before_cutoff)"
            )
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "knowledge_cutoffs": self.knowledge_cutoffs,
            "before_cutoff": self.before_cutoff,
            "allowed_before_cutoff": self.allowed_before_cutoff,
            "calls_made": self.calls_made,
            "answers_replayed": self.answers_replayed,
            "counts": self.counts,
        }


async def run_llm_through_risk(
    settings: Any,
    llm: LlmStrategySettings,
    symbols: Sequence[str],
    first_day: date,
    last_day: date,
    *,
    replay_only: bool = False,
    replay_from: datetime | None = None,
) -> tuple[Any, LlmBacktestReport]:
    """The through-risk backtest of the llm strategy with `settings`' models, database and risk
    limits; raises BeforeCutoffError, UnknownModelError or ValueError (bad data) before any call."""
    from trader.adapters.db.engine import create_engine
    from trader.adapters.db.stores.llm_calls import LlmCallStore
    from trader.adapters.db.stores.news import NewsStore
    from trader.adapters.llm.bridge import BridgedLlmStrategy
    from trader.adapters.llm.decider import LlmDecider
    from trader.adapters.llm.panel import LlmPanel
    from trader.adapters.llm.providers import build_models
    from trader.commands.backtest import run_through_risk_with_settings

    engine = create_engine(settings.effective_database_url)
    try:
        async with httpx.AsyncClient() as http:
            panel = LlmPanel(build_models(settings, http), LlmCallStore(engine), replay_only=replay_only)
            names = llm.model_names()
            cutoffs = panel.knowledge_cutoffs(names)
            breaches = cutoff_breaches(cutoffs, first_day)
            if breaches and not llm.allow_before_cutoff:
                raise BeforeCutoffError(
                    "; ".join(breaches) + ": refused, the model may have known what happened next "
                    "(set -p allow_before_cutoff=true to run anyway; the report will say so)"
                )
            strategy = BridgedLlmStrategy(
                LlmDecider(panel, NewsStore(engine)), llm, "default", asyncio.get_running_loop()
            )
            result = await asyncio.to_thread(
                run_through_risk_with_settings,
                settings,
                strategy,
                symbols,
                first_day,
                last_day,
                replay_from=replay_from,
            )
            counts: dict[str, dict[str, int]] = {}
            for (model, kind), count in panel.counters.items():
                counts.setdefault(model, {})[kind] = count
            report = LlmBacktestReport(
                models=sorted(cutoffs),
                knowledge_cutoffs={k: (v.isoformat() if v else None) for k, v in cutoffs.items()},
                before_cutoff=breaches,
                allowed_before_cutoff=llm.allow_before_cutoff,
                counts=counts,
            )
            return result, report
    finally:
        await engine.dispose()


def backtest_llm(
    param: Sequence[str] | None,
    symbols: str,
    start: str | None,
    end: str | None,
    json_path: Path | None,
    history_until: str | None,
    *,
    replay_only: bool,
) -> None:
    """The CLI: parse, run, print the orders and the models' report (and write them as JSON)."""
    from trader.adapters.llm.panel import UnknownModelError
    from trader.backtest.through_risk import result_as_dict
    from trader.commands.backtest import _fail, console, parse_parameters, print_through_risk
    from trader.core.llm.strategy import llm_strategy_type
    from trader.core.strategies.catalog import InvalidParametersError, StrategyCatalog
    from trader.settings import load_settings

    settings = load_settings()
    try:
        llm = StrategyCatalog([llm_strategy_type()]).build("llm", parse_parameters(param))
        if end is None:
            raise ValueError("the llm backtest needs --end (the day after the last session replayed)")
        first_day = date.fromisoformat(start) if start else settings.replay_start
        last_day = date.fromisoformat(end) - timedelta(days=1)
        replay_from = None if history_until is None else datetime.fromisoformat(history_until).astimezone(UTC)
        wanted = [s.strip().upper() for s in symbols.split(",") if s.strip()]
        result, report = asyncio.run(
            run_llm_through_risk(
                settings,
                llm,  # type: ignore[arg-type]
                wanted,
                first_day,
                last_day,
                replay_only=replay_only,
                replay_from=replay_from,
            )
        )
    except (InvalidParametersError, UnknownModelError, ValueError) as error:
        raise _fail(str(error)) from None
    print_through_risk(result)
    for line in report.lines():
        console.print(line)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {**result_as_dict(result), "llm": report.as_dict()}
        json_path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        console.print(f"orders, fills and the models' report written to {json_path}")
