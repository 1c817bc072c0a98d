"""Model specs pointing at a running LlmEmulator, for the llm tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from trader.adapters.llm.providers import ChatModel, build_model
from trader.settings import LlmModelSettings, LlmProvider

ANTHROPIC_KEY = "test-anthropic-key"


def spec(name: str, provider: str, url: str, **extra: Any) -> LlmModelSettings:
    values: dict[str, Any] = {
        "name": name,
        "provider": LlmProvider(provider),
        "model": f"{provider}-model",
        "url": url,
        "knowledge_cutoff": date(2005, 1, 1),
        "input_usd_per_million_tokens": Decimal("3"),
        "output_usd_per_million_tokens": Decimal("15"),
        "timeout_seconds": 5.0,
    }
    values.update(extra)
    return LlmModelSettings(**values)


def model(name: str, provider: str, url: str, http: httpx.AsyncClient, **extra: Any) -> ChatModel:
    return build_model(spec(name, provider, url, **extra), http, ANTHROPIC_KEY)
