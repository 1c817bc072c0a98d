"""The strategy engine's `strategy_data` health component: an enabled strategy whose symbol lacks
the bars its lookback needs cannot trade it, so the service says so (degraded, naming the pairs
and why, from `/strategies/data-status`) and logs each change, instead of falling silent.

A "ready" answer is reused for `max_age_seconds`: `/health` is polled often, and counting the
bars of every symbol on every poll would cost more than the check is worth. A "not ready" one
only for `retry_seconds`, so the warning clears soon after the bars arrive (e.g. at start-up,
while the collector loads the history)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger("trader.services.strategy_engine")
SHOWN = 5  # pairs named in the message; the rest are counted


class StrategyDataNotReadyError(RuntimeError):
    """Enabled strategies are waiting for bars (a warning: the service runs, those pairs do not trade)."""


def _describe(row: Mapping[str, Any]) -> str:
    why = row.get("reason") or (f"{row.get('bars_available')} of {row.get('lookback_needed')} bars")
    return f"{row.get('strategy')}/{row.get('symbol')} ({why})"


def not_ready_message(rows: Sequence[Mapping[str, Any]]) -> str:
    waiting = [row for row in rows if row.get("enabled") and not row.get("ready")]
    if not waiting:
        return ""
    enabled = sum(1 for row in rows if row.get("enabled"))
    named = ", ".join(_describe(row) for row in waiting[:SHOWN])
    more = f" and {len(waiting) - SHOWN} more" if len(waiting) > SHOWN else ""
    return (
        f"{len(waiting)} of {enabled} enabled strategy symbols cannot trade yet: {named}{more}; "
        "see GET /strategies/data-status"
    )


class StrategyDataReadiness:
    def __init__(
        self,
        data_status: Callable[[], Awaitable[Mapping[str, Any]]],
        *,
        max_age_seconds: float = 30.0,
        retry_seconds: float = 2.0,
    ) -> None:
        self._data_status = data_status
        self._max_age = max_age_seconds
        self._retry = retry_seconds
        self._checked_at: float | None = None
        self._message = ""
        self._ready_pairs = 0

    async def check(self) -> str:
        now = time.monotonic()
        age = self._retry if self._message else self._max_age
        if self._checked_at is None or now - self._checked_at >= age:
            status = await self._data_status()
            rows = list(status.get("symbols", []))
            message = not_ready_message(rows)
            if message != self._message:
                if message:
                    log.warning("strategy data: %s", message)
                elif self._message:
                    log.info("strategy data: every enabled strategy symbol has its lookback again")
            self._message = message
            self._ready_pairs = sum(1 for row in rows if row.get("enabled") and row.get("ready"))
            self._checked_at = now
        if self._message:
            raise StrategyDataNotReadyError(self._message)
        return f"{self._ready_pairs} enabled strategy symbols ready"
