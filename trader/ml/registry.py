"""The model registry's rules: statuses, and when a candidate may replace the active model.

A candidate is promoted only when its out-of-sample score beats the active model's by at least
`min_improvement` (and, with no active model, when it beats chance). Scores compare like with
like: the same metric from each model's own purged walk-forward.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass


class ModelStatus(enum.StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"


# Higher is better for these; lower is better for the losses.
HIGHER_IS_BETTER = {"auc": True, "accuracy": True, "signal_edge": True, "log_loss": False, "brier": False}
CHANCE_LEVEL = {"auc": 0.5}


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    promote: bool
    reason: str


def decide_promotion(
    candidate: Mapping[str, float],
    active: Mapping[str, float] | None,
    *,
    metric: str = "auc",
    min_improvement: float = 0.0,
) -> PromotionDecision:
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown promotion metric {metric!r}; use one of {', '.join(HIGHER_IS_BETTER)}")
    score = candidate.get(metric, math.nan)
    if not math.isfinite(score):
        return PromotionDecision(False, f"candidate has no out-of-sample {metric}")
    higher = HIGHER_IS_BETTER[metric]
    if active is None:
        chance = CHANCE_LEVEL.get(metric)
        if chance is not None and score <= chance:
            return PromotionDecision(
                False, f"no active model, and candidate {metric} {score:.4f} <= {chance}"
            )
        return PromotionDecision(True, f"no active model; candidate {metric} {score:.4f}")
    incumbent = active.get(metric, math.nan)
    if not math.isfinite(incumbent):
        return PromotionDecision(True, f"active model has no out-of-sample {metric}")
    improvement = score - incumbent if higher else incumbent - score
    if improvement > min_improvement:
        return PromotionDecision(
            True, f"candidate {metric} {score:.4f} beats active {incumbent:.4f} by {improvement:.4f}"
        )
    return PromotionDecision(
        False,
        f"candidate {metric} {score:.4f} does not beat active {incumbent:.4f} by more than {min_improvement}",
    )
