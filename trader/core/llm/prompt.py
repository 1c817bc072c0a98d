"""The prompt a model is sent for a context, and its hash (the key of the answer cache).

The hash covers everything that can change an answer except the model: the prompt's version, the
system text and the user text. A backtest that builds the same context builds the same hash and
replays the recorded answer instead of asking again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trader.core.llm.decision import DECISION_SCHEMA

PROMPT_VERSION = "llm-decision-v1"
SYSTEM_PROMPT = (
    "You are one member of a panel deciding trades in US equities for an automated system. A risk "
    "manager sizes and may refuse every order; you decide direction only. You see one symbol at the "
    "close of its latest bar: recent bars (raw prices), indicators, the news published by then, the "
    "position held and the portfolio's exposure. Decide for the next bars: buy (open or keep a long "
    "position), sell (close the long position) or hold (do nothing). For a buy give a protective stop "
    "below the price and a target above it, in the same raw prices. Answer with one JSON object and "
    "nothing else, matching this JSON schema: " + json.dumps(DECISION_SCHEMA, sort_keys=True)
)


@dataclass(frozen=True, slots=True)
class Prompt:
    system: str
    user: str
    prompt_hash: str


def build_prompt(context: Mapping[str, Any]) -> Prompt:
    user = f"Decide for {context['symbol']} at {context['decision_at']}. Context (JSON): " + json.dumps(
        context, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    digest = hashlib.sha256("\x1f".join((PROMPT_VERSION, SYSTEM_PROMPT, user)).encode("utf-8")).hexdigest()
    return Prompt(SYSTEM_PROMPT, user, digest)
