"""The `ml_ranking` strategy type: a universe traded by a cross-sectional model's top ranks.

A configuration of this type names a model; its symbols are the universe. It is not evaluated
bar by bar like the other types: the model desk ranks the whole universe at each session's
close and trades the champion's picks (long the top `top_fraction`, sized by the risk manager),
while a shadow's picks are only recorded. Shorting the bottom ranks waits for target positions
(short when allowed) in the risk manager; until then the type is long-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trader.core.strategies.catalog import StrategyType, strategy_type_from_dataclass
from trader.ml.cross_features import WARMUP_SESSIONS

RANKING_STRATEGY_TYPE_NAME = "ml_ranking"


@dataclass(frozen=True, slots=True)
class RankingStrategySettings:
    model_name: str = "cross_sectional"

    def __post_init__(self) -> None:
        if not self.model_name:
            raise ValueError("model_name must not be empty")

    @property
    def name(self) -> str:
        return RANKING_STRATEGY_TYPE_NAME

    @property
    def lookback_bars(self) -> int:
        return WARMUP_SESSIONS

    def parameters(self) -> Mapping[str, object]:
        return {"model_name": self.model_name}


def ranking_strategy_type() -> StrategyType:
    return strategy_type_from_dataclass(
        RankingStrategySettings,
        name=RANKING_STRATEGY_TYPE_NAME,
        summary="Cross-sectional model over the configuration's symbols (the universe): at each "
        "rebalance the champion's top-ranked symbols are bought and the rest sold; a shadow's picks "
        "are recorded, not traded.",
        docs={
            "model_name": "registry name of the ranking model; its champion trades, its shadow is recorded"
        },
    )
