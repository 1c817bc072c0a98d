from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class LastRun(BaseModel):
    id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    attempt: int
    error_message: str | None


class JobView(BaseModel):
    name: str
    description: str
    cadence: str
    missed_run_policy: str
    paused: bool
    pause_reason: str | None
    running: bool
    next_run_at: datetime | None
    last_run: LastRun | None


class PauseRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=500, description="why the job is paused or resumed")


class SessionView(BaseModel):
    date: date
    open_at: datetime
    close_at: datetime
    early_close: bool


class MarketClock(BaseModel):
    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime
    session: SessionView | None
