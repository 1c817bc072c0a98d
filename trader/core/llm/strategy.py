"""The `llm` strategy type: what a configuration says, and how a consensus becomes a signal.

The strategy is a panel of models (LLM_MODELS, chosen by name) asked at each bar's close with the
point-in-time context; it is not a vectorised `Strategy` because its signal comes from an answer,
not from arithmetic on bars. Signals stay long-only intents: a buy opens a position when flat, a
sell closes one when long, and everything else is no signal. The risk manager still sizes and
decides; the consensus confidence is the signal's strength, and the stop and target travel with
the signal for the entry's protective orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trader.core.llm.consensus import Consensus
from trader.core.llm.context import INDICATOR_BARS, Holding
from trader.core.llm.decision import Direction
from trader.core.strategies.base import SignalDirection
from trader.core.strategies.catalog import StrategyType, strategy_type_from_dataclass
from trader.core.strategies.closing import STRENGTH_PLACES, ClosingSignal

LLM_STRATEGY_TYPE_NAME = "llm"
FALLBACK_HOLD = "hold"
FALLBACK_EXIT = "exit"
FALLBACKS = (FALLBACK_HOLD, FALLBACK_EXIT)


@dataclass(frozen=True, slots=True)
class LlmStrategySettings:
    models: str = ""
    min_confidence: float = 0.6
    quorum: float = 0.5
    context_bars: int = 30
    news_items: int = 10
    fallback: str = FALLBACK_HOLD
    allow_before_cutoff: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be 0-1, got {self.min_confidence}")
        if not 0.0 < self.quorum <= 1.0:
            raise ValueError(f"quorum must be above 0 and at most 1, got {self.quorum}")
        if not 1 <= self.context_bars <= 500:
            raise ValueError(f"context_bars must be 1-500, got {self.context_bars}")
        if not 0 <= self.news_items <= 100:
            raise ValueError(f"news_items must be 0-100, got {self.news_items}")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {self.fallback!r}")

    @property
    def name(self) -> str:
        return LLM_STRATEGY_TYPE_NAME

    @property
    def lookback_bars(self) -> int:
        return max(self.context_bars, INDICATOR_BARS + 1)

    def model_names(self) -> tuple[str, ...]:
        """The models named, in order; empty means every configured model."""
        return tuple(dict.fromkeys(name.strip() for name in self.models.split(",") if name.strip()))


@dataclass(frozen=True, slots=True)
class LlmOutcome:
    """What the strategy made of a bar: a signal or none, and why (kept with the signal's record)."""

    signal: ClosingSignal | None
    outcome: str


def _strength(confidence: Decimal) -> Decimal:
    return confidence.quantize(Decimal(1).scaleb(-STRENGTH_PLACES))


def llm_signal(consensus: Consensus | None, holding: Holding, settings: LlmStrategySettings) -> LlmOutcome:
    if consensus is None:
        if settings.fallback == FALLBACK_EXIT and holding.is_long:
            return LlmOutcome(ClosingSignal(SignalDirection.SELL, Decimal(1)), "fallback: exit")
        return LlmOutcome(None, f"fallback: {settings.fallback}")
    if consensus.direction is Direction.SELL:
        if not holding.is_long:
            return LlmOutcome(None, "sell while flat: nothing to close")
        return LlmOutcome(ClosingSignal(SignalDirection.SELL, _strength(consensus.confidence)), "sell")
    if consensus.direction is Direction.HOLD:
        return LlmOutcome(None, "hold")
    if holding.is_long:
        return LlmOutcome(None, "buy while long: already in")
    if consensus.confidence < Decimal(str(settings.min_confidence)):
        return LlmOutcome(
            None, f"buy at confidence {consensus.confidence} below min_confidence {settings.min_confidence}"
        )
    signal = ClosingSignal(
        SignalDirection.BUY,
        _strength(consensus.confidence),
        stop_price=consensus.stop_price,
        target_price=consensus.target_price,
    )
    return LlmOutcome(signal, "buy")


def llm_strategy_type() -> StrategyType:
    return strategy_type_from_dataclass(
        LlmStrategySettings,
        name=LLM_STRATEGY_TYPE_NAME,
        summary="A panel of language models (LLM_MODELS) decides at each close from recent bars, "
        "indicators, the news published by then and the position: buy when flat and the weighted "
        "consensus confidence reaches min_confidence (with its stop and target), sell when long.",
        docs={
            "models": "comma-separated LLM_MODELS names voting (empty: every configured model)",
            "min_confidence": "weighted consensus confidence (0-1) an entry needs",
            "quorum": "share of the panel's weight that must answer usably, else the fallback applies",
            "context_bars": "recent bars shown to the models",
            "news_items": "newest articles published by the close shown to the models",
            "fallback": "without a consensus (outage, budget spent, refusals): hold (no signal) or exit "
            "(close a long position)",
            "allow_before_cutoff": "let a backtest run over bars before a model's knowledge cutoff "
            "(its report then says the model may have known the outcome)",
        },
    )
