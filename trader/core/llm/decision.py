"""The structured decision a model must answer, and the checks that refuse anything else.

A model answers one JSON object: {"direction": "buy" | "sell" | "hold", "confidence": 0..1,
"stop_price": number | null, "target_price": number | null, "horizon_bars": int, "rationale": str}.
An answer that is not that object is refused with a coded reason (recorded and counted by the
caller) and never becomes a signal. A buy must put its stop below the price and its target above
it: a protective order on the wrong side of the price would trigger at once.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trader.core.money import to_price

MAX_RATIONALE_CHARACTERS = 1000
MAX_HORIZON_BARS = 1000
REQUIRED_FIELDS = ("direction", "confidence", "stop_price", "target_price", "horizon_bars", "rationale")

# Sent to servers that accept a JSON schema for structured output (Ollama's `format`), and shown
# in the prompt to the others.
DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "direction": {"type": "string", "enum": ["buy", "sell", "hold"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "stop_price": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "target_price": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "horizon_bars": {"type": "integer", "minimum": 1, "maximum": MAX_HORIZON_BARS},
        "rationale": {"type": "string", "maxLength": MAX_RATIONALE_CHARACTERS},
    },
    "required": list(REQUIRED_FIELDS),
    "additionalProperties": False,
}


class Direction(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


class RefusalCode(enum.StrEnum):
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    BAD_DIRECTION = "bad_direction"
    BAD_CONFIDENCE = "bad_confidence"
    BAD_PRICE = "bad_price"
    STOP_NOT_BELOW_PRICE = "stop_not_below_price"
    TARGET_NOT_ABOVE_PRICE = "target_not_above_price"
    BAD_HORIZON = "bad_horizon"
    BAD_RATIONALE = "bad_rationale"


class DecisionRefusedError(ValueError):
    """A model's answer that cannot become a decision; `code` says which rule it broke."""

    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Decision:
    direction: Direction
    confidence: Decimal
    stop_price: Decimal | None
    target_price: Decimal | None
    horizon_bars: int
    rationale: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction.value,
            "confidence": format(self.confidence, "f"),
            "stop_price": None if self.stop_price is None else format(self.stop_price, "f"),
            "target_price": None if self.target_price is None else format(self.target_price, "f"),
            "horizon_bars": self.horizon_bars,
            "rationale": self.rationale,
        }


def json_object(text: str) -> dict[str, Any]:
    """The one JSON object a model answered (a markdown fence around it is dropped)."""
    stripped = text.strip()
    if stripped.startswith("```"):
        # Models often fence JSON in markdown even when told not to; the fence carries no meaning.
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        payload = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        raise DecisionRefusedError(RefusalCode.NOT_JSON, f"answer is not JSON: {text[:120]!r}") from None
    if not isinstance(payload, dict):
        raise DecisionRefusedError(RefusalCode.NOT_AN_OBJECT, f"answer is a {type(payload).__name__}")
    return payload


def _number(value: object, name: str, code: RefusalCode) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DecisionRefusedError(code, f"{name} must be a finite number, got {value!r}")
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _price(value: object, name: str) -> Decimal | None:
    if value is None:
        return None
    price = _number(value, name, RefusalCode.BAD_PRICE)
    if price <= 0:
        raise DecisionRefusedError(RefusalCode.BAD_PRICE, f"{name} must be positive, got {value!r}")
    return to_price(price)


def _direction(value: object) -> Direction:
    try:
        return Direction(str(value).strip().lower())
    except ValueError:
        raise DecisionRefusedError(
            RefusalCode.BAD_DIRECTION, f"direction must be buy, sell or hold, got {value!r}"
        ) from None


def _horizon(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HORIZON_BARS:
        raise DecisionRefusedError(
            RefusalCode.BAD_HORIZON, f"horizon_bars must be an integer 1-{MAX_HORIZON_BARS}, got {value!r}"
        )
    return value


def parse_decision(text: str, price: Decimal) -> Decision:
    """The decision in a model's answer for a symbol last traded at `price`, or DecisionRefusedError."""
    payload = json_object(text)
    missing = [name for name in REQUIRED_FIELDS if name not in payload]
    if missing:
        raise DecisionRefusedError(RefusalCode.MISSING_FIELD, f"missing {', '.join(missing)}")
    unknown = sorted(set(payload) - set(REQUIRED_FIELDS))
    if unknown:
        raise DecisionRefusedError(RefusalCode.UNKNOWN_FIELD, f"unknown {', '.join(unknown)}")
    direction = _direction(payload["direction"])
    confidence = _number(payload["confidence"], "confidence", RefusalCode.BAD_CONFIDENCE)
    if not 0 <= confidence <= 1:
        raise DecisionRefusedError(RefusalCode.BAD_CONFIDENCE, f"confidence must be 0-1, got {confidence}")
    stop, target = (
        _price(payload["stop_price"], "stop_price"),
        _price(payload["target_price"], "target_price"),
    )
    if direction is Direction.BUY and stop is not None and stop >= price:
        raise DecisionRefusedError(
            RefusalCode.STOP_NOT_BELOW_PRICE, f"a buy's stop {stop} must be below the price {price}"
        )
    if direction is Direction.BUY and target is not None and target <= price:
        raise DecisionRefusedError(
            RefusalCode.TARGET_NOT_ABOVE_PRICE, f"a buy's target {target} must be above the price {price}"
        )
    rationale = payload["rationale"]
    if not isinstance(rationale, str) or len(rationale) > MAX_RATIONALE_CHARACTERS:
        raise DecisionRefusedError(
            RefusalCode.BAD_RATIONALE,
            f"rationale must be text of at most {MAX_RATIONALE_CHARACTERS} characters",
        )
    return Decision(
        direction=direction,
        confidence=confidence.quantize(Decimal("0.0001")),
        stop_price=stop if direction is Direction.BUY else None,
        target_price=target if direction is Direction.BUY else None,
        horizon_bars=_horizon(payload["horizon_bars"]),
        rationale=rationale.strip(),
    )
