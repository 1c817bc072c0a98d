"""Request bodies of the export service."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from trader.core.market import InvalidSymbolError, normalize_symbol


class ExportKind(enum.StrEnum):
    MARKET_DATA = "market_data"
    ORDERS = "orders"
    TRADES = "trades"
    FILLS = "fills"
    POSITIONS = "positions"
    SIGNALS = "signals"
    RISK_DECISIONS = "risk_decisions"
    TAX_LOTS = "tax_lots"
    TRADENOTE = "tradenote"
    PERFORMANCE_REPORT = "performance_report"
    DAILY_SUMMARY = "daily_summary"


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"
    HTML = "html"


# What each kind can be written as; the first is the default.
ALLOWED_FORMATS: dict[ExportKind, tuple[ExportFormat, ...]] = {
    **{
        kind: (ExportFormat.CSV, ExportFormat.JSON, ExportFormat.PARQUET)
        for kind in ExportKind
        if kind not in (ExportKind.TRADENOTE, ExportKind.PERFORMANCE_REPORT, ExportKind.DAILY_SUMMARY)
    },
    ExportKind.TRADENOTE: (ExportFormat.CSV,),
    ExportKind.PERFORMANCE_REPORT: (ExportFormat.HTML,),
    ExportKind.DAILY_SUMMARY: (ExportFormat.JSON,),
}


class ExportRequest(BaseModel):
    kind: ExportKind
    format: ExportFormat | None = Field(None, description="default: the first format the kind allows")
    start: datetime | None = Field(None, description="inclusive, aware (e.g. 2024-01-02T00:00:00Z)")
    end: datetime | None = Field(None, description="exclusive")
    symbols: list[str] = Field(default_factory=list, max_length=500)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. a trailing Z for UTC)")
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, values: list[str]) -> list[str]:
        try:
            return sorted({normalize_symbol(value) for value in values})
        except InvalidSymbolError as error:
            raise ValueError(str(error)) from None

    @model_validator(mode="after")
    def _consistent(self) -> ExportRequest:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        allowed = ALLOWED_FORMATS[self.kind]
        if self.format is None:
            self.format = allowed[0]
        elif self.format not in allowed:
            raise ValueError(
                f"{self.kind.value} can be exported as {', '.join(f.value for f in allowed)}, "
                f"not {self.format.value}"
            )
        if self.kind is ExportKind.DAILY_SUMMARY and self.start is None:
            raise ValueError("daily_summary needs start (the day, e.g. 2024-01-02T00:00:00Z)")
        return self
