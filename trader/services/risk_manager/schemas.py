"""Request bodies of the risk manager's API (responses are plain JSON documents built by handlers)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from trader.core.risk.state import TradingState


class LimitsUpdate(BaseModel):
    """Limits to change (the rest keep their current values), and why."""

    model_config = ConfigDict(extra="forbid")

    limits: dict[str, Any] = Field(
        ..., description='limit name -> new value, e.g. {"max_position_pct": "0.08"}; fractions, not percents'
    )
    reason: str = Field(..., min_length=1, max_length=2000)
    # The version the change was based on; a concurrent change then fails instead of being overwritten.
    expected_version: int | None = Field(None, ge=1)


class TradingStateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: TradingState
    reason: str = Field(..., min_length=1, max_length=2000)
