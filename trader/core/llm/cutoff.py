"""Knowledge cutoffs: a model asked about bars from before its training ended may know the outcome.

A backtest over such bars measures the model's memory, not its judgement. Each model declares its
cutoff (LLM_MODELS[].knowledge_cutoff); a backtest whose first replayed day is not after every
chosen model's cutoff is refused unless the configuration allows it, and its report says so.
A model with no declared cutoff counts as trained after every bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date


def cutoff_breaches(cutoffs: Mapping[str, date | None], first_day: date) -> list[str]:
    """Why each model may have seen bars from `first_day` on (empty: none could have)."""
    problems = []
    for name, cutoff in sorted(cutoffs.items()):
        if cutoff is None:
            problems.append(f"{name} declares no knowledge cutoff")
        elif cutoff >= first_day:
            problems.append(
                f"{name}'s knowledge cutoff {cutoff.isoformat()} is not before the first replayed day "
                f"{first_day.isoformat()}"
            )
    return problems
