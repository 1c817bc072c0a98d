"""Request bodies of the strategy engine's API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field


class StrategyConfigCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    strategy_type: str = Field(min_length=1, max_length=64)
    parameters: dict[str, Any] = Field(default_factory=dict)
    symbols: list[str] = Field(min_length=1)
    timeframe: str = "1day"
    enabled: bool = False


class StrategyConfigUpdate(BaseModel):
    strategy_type: str | None = Field(default=None, min_length=1, max_length=64)
    parameters: dict[str, Any] | None = None
    symbols: list[str] | None = Field(default=None, min_length=1)
    timeframe: str | None = None


class BacktestRequest(BaseModel):
    strategy_type: str = Field(min_length=1, max_length=64)
    parameters: dict[str, Any] = Field(default_factory=dict)
    symbols: list[str] = Field(min_length=1, max_length=50)
    start: datetime | None = None
    end: datetime | None = None
    initial_cash: Decimal = Field(default=Decimal(100_000), gt=0)
    fill_rule: str = Field(default="next_open", pattern="^(next_open|close)$")
    # Omitted: the system's costs (SIMULATED_SLIPPAGE_BPS, SIMULATED_COMMISSION_PER_SHARE); sales
    # always pay the regulatory fees of the settings (SEC_FEE_RATE, FINRA_TAF_*).
    slippage_bps: Decimal | None = Field(default=None, ge=0, le=1000)
    commission_per_share: Decimal | None = Field(default=None, ge=0, le=100)
    check_lookahead: bool = True
