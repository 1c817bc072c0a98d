"""Request bodies of the maintenance service."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from trader.core.risk.state import TradingState


class MaintenanceModeRequest(BaseModel):
    enabled: bool = Field(description="true: read-only (reads work, no new orders); false: back to normal")
    reason: str = Field(min_length=1, max_length=500)


class ResumeRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    target: TradingState = Field(
        TradingState.ACTIVE, description="active, or reducing to allow only closing trades first"
    )


_REASON_FORM = {
    "type": "object",
    "required": ["reason"],
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}},
}
# The guide posts `-d "reason=..."` (form-encoded); JSON works too. Declared by hand so the
# OpenAPI schema shows both without a multipart dependency.
EMERGENCY_SHUTDOWN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _REASON_FORM},
            "application/json": {"schema": _REASON_FORM},
        },
    }
}
