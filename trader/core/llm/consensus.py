"""Several models vote on one decision; the weighted consensus is what the strategy acts on.

Each usable answer votes its direction with weight x confidence. The direction with the most
weighted confidence wins (a tie is hold), and the consensus confidence is that score over the
weight that voted, so a lone buyer among holders cannot reach a high confidence. A model that did
not answer usably (failure, refusal, exhausted budget) does not vote; when the weight that voted is
below the quorum there is no consensus and the strategy falls back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from trader.core.llm.decision import Decision, Direction
from trader.core.money import to_price

CONFIDENCE_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Vote:
    model: str
    weight: Decimal
    decision: Decision | None  # None: the model gave no usable answer


@dataclass(frozen=True, slots=True)
class Consensus:
    direction: Direction
    confidence: Decimal
    stop_price: Decimal | None
    target_price: Decimal | None
    horizon_bars: int
    agreeing: tuple[str, ...]


def _weighted_mean(pairs: Sequence[tuple[Decimal, Decimal]]) -> Decimal | None:
    total = sum((weight for weight, _ in pairs), Decimal(0))
    if not pairs or total == 0:
        return None
    return to_price(sum((weight * value for weight, value in pairs), Decimal(0)) / total)


def voting_share(votes: Sequence[Vote]) -> Decimal:
    """The share of the panel's weight that voted usably (0-1)."""
    total = sum((vote.weight for vote in votes), Decimal(0))
    voted = sum((vote.weight for vote in votes if vote.decision is not None), Decimal(0))
    return Decimal(0) if total == 0 else voted / total


def weighted_consensus(votes: Sequence[Vote], *, quorum: Decimal) -> Consensus | None:
    """The panel's decision, or None when less than `quorum` of its weight voted."""
    usable = [(vote, vote.decision) for vote in votes if vote.decision is not None and vote.weight > 0]
    if not usable or voting_share(votes) < quorum:
        return None
    voted_weight = sum((vote.weight for vote, _ in usable), Decimal(0))
    scores: dict[Direction, Decimal] = {}
    for vote, decision in usable:
        scores[decision.direction] = (
            scores.get(decision.direction, Decimal(0)) + vote.weight * decision.confidence
        )
    best = max(scores.values())
    leaders = [direction for direction, score in scores.items() if score == best]
    winner = leaders[0] if len(leaders) == 1 else Direction.HOLD
    agreeing = [(vote, decision) for vote, decision in usable if decision.direction is winner]
    return Consensus(
        direction=winner,
        confidence=(scores.get(winner, Decimal(0)) / voted_weight).quantize(CONFIDENCE_PLACES),
        stop_price=_weighted_mean(
            [(v.weight, d.stop_price) for v, d in agreeing if d.stop_price is not None]
        ),
        target_price=_weighted_mean(
            [(v.weight, d.target_price) for v, d in agreeing if d.target_price is not None]
        ),
        horizon_bars=min((decision.horizon_bars for _, decision in agreeing), default=1),
        agreeing=tuple(sorted(vote.model for vote, _ in agreeing)),
    )
