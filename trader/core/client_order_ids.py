"""Deterministic client order ids: the same decision always yields the same id.

The id is what makes a submission exactly-once: the broker refuses a second order with an id it
already holds, and after a crash or an unanswered request we find the order by it. It is derived
from (strategy, symbol, signal time, intent), never from a clock or a counter, so a redelivered
or replayed decision maps to the order it already produced.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

MAX_LENGTH = 64  # the trades column; Alpaca allows 128
_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def _slug(text: str, limit: int) -> str:
    return _UNSAFE.sub("", text)[:limit].lower() or "x"


def make_client_order_id(strategy_name: str, symbol: str, signal_at: datetime, intent: str) -> str:
    """`<strategy>-<symbol>-<yyyymmddThhmmss>-<intent>-<hash>`, at most 64 characters.

    The readable parts help an operator reading the broker's order list; the hash over the full,
    unabridged inputs keeps two decisions apart even when their readable parts are cut short.
    """
    if signal_at.tzinfo is None or signal_at.utcoffset() != timedelta(0):
        raise ValueError(f"signal_at must be aware UTC, got {signal_at!r}")
    if not symbol.strip():
        raise ValueError("a client order id needs a symbol")
    if not intent.strip():
        raise ValueError("a client order id needs an intent (e.g. buy, sell)")
    moment = signal_at.astimezone(UTC)
    canonical = "|".join((strategy_name, symbol.upper(), moment.isoformat(), intent))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    readable = "-".join(
        (
            _slug(strategy_name or "manual", 12),
            _slug(symbol, 8),
            moment.strftime("%Y%m%dT%H%M%S"),
            _slug(intent, 6),
        )
    )
    identifier = f"{readable}-{digest}"
    if len(identifier) > MAX_LENGTH:
        raise AssertionError(f"client order id {identifier!r} exceeds {MAX_LENGTH} characters")
    return identifier
