"""Failover between market-data providers: primary first, backup on errors or an exhausted quota,
and back to the primary as soon as its circuit lets a trial call through and it succeeds.

Every switch is logged and kept (with its reason) for the status endpoints.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trader.adapters.marketdata.adjusted import AdjustmentStats
from trader.adapters.marketdata.circuit import CircuitBreaker
from trader.adapters.marketdata.credits import CreditLimiter
from trader.adapters.marketdata.errors import (
    CreditsExhaustedError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    SymbolNotFoundError,
)
from trader.core.market import Timeframe
from trader.core.ports import Clock, FetchedBars, MarketDataProvider

log = logging.getLogger(__name__)
# A rejected key will not fix itself; keep the circuit open long, an operator restarts with a new key.
AUTH_FAILURE_COOL_DOWN = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class ProviderFailure:
    at: datetime
    kind: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"at": self.at.isoformat(), "kind": self.kind, "message": self.message}


@dataclass(frozen=True, slots=True)
class Switch:
    at: datetime
    from_provider: str | None
    to_provider: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "from": self.from_provider,
            "to": self.to_provider,
            "reason": self.reason,
        }


@dataclass(slots=True)
class ProviderSlot:
    provider: MarketDataProvider
    breaker: CircuitBreaker
    limiter: CreditLimiter | None = None
    calls: int = 0
    failures: int = 0
    bars_received: int = 0
    last_error: ProviderFailure | None = None
    last_success_at: datetime | None = None
    feeds: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.provider.name


class NoProviderAvailableError(ProviderUnavailableError):
    """Every provider failed or has its circuit open; the message lists why, per provider."""


class FailoverRouter:
    """A `MarketDataProvider` over an ordered list of providers (first = primary)."""

    def __init__(self, slots: list[ProviderSlot], clock: Clock) -> None:
        if not slots:
            raise ValueError("a router needs at least one provider")
        self._slots = slots
        self._clock = clock
        self._active: str | None = None
        self._switches: deque[Switch] = deque(maxlen=50)

    @property
    def name(self) -> str:
        return "+".join(slot.name for slot in self._slots)

    @property
    def active_provider(self) -> str | None:
        return self._active

    @property
    def switches(self) -> list[Switch]:
        return list(self._switches)

    @property
    def slots(self) -> list[ProviderSlot]:
        return list(self._slots)

    def _fail(self, slot: ProviderSlot, error: ProviderError) -> None:
        now = self._clock.now()
        slot.failures += 1
        slot.last_error = ProviderFailure(now, error.kind, str(error))
        if isinstance(error, CreditsExhaustedError):
            slot.breaker.open_until(error.retry_at)
        elif isinstance(error, ProviderAuthError):
            slot.breaker.open_until(now + AUTH_FAILURE_COOL_DOWN)
        else:
            slot.breaker.record_failure()
        log.warning("market data provider %s failed (%s): %s", slot.name, error.kind, error.detail)

    def _succeeded(self, slot: ProviderSlot, fetched: FetchedBars) -> None:
        now = self._clock.now()
        slot.breaker.record_success()
        slot.last_success_at = now
        slot.bars_received += len(fetched.candidates)
        if fetched.feed:
            slot.feeds[fetched.feed] = slot.feeds.get(fetched.feed, 0) + len(fetched.candidates)
        if self._active != slot.name:
            primary = self._slots[0].name
            if self._active is None:
                reason = "first successful call"
            elif slot.name == primary:
                reason = f"{primary} recovered"
            else:
                failure = self._slots[0].last_error
                reason = f"{primary} unavailable: {failure.kind if failure else 'circuit open'}"
            switch = Switch(now, self._active, slot.name, reason)
            self._switches.append(switch)
            if self._active is not None:
                log.warning("market data failover: %s -> %s (%s)", self._active, slot.name, reason)
            self._active = slot.name

    async def fetch_bars(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> FetchedBars:
        problems: list[str] = []
        not_found: SymbolNotFoundError | None = None
        provider_failed = False
        for slot in self._slots:
            if not slot.breaker.allows_call():
                snapshot = slot.breaker.snapshot()
                retry = snapshot.retry_at.isoformat() if snapshot.retry_at else "?"
                problems.append(f"{slot.name}: circuit open until {retry}")
                continue
            slot.calls += 1
            try:
                fetched = await slot.provider.fetch_bars(symbol, timeframe, start, end)
            except SymbolNotFoundError as error:
                # The provider works; it just does not list the symbol. Ask the next one, no penalty.
                slot.breaker.record_success()
                not_found = not_found or error
                problems.append(str(error))
                continue
            except ProviderError as error:
                self._fail(slot, error)
                provider_failed = True
                problems.append(str(error))
                continue
            self._succeeded(slot, fetched)
            return fetched
        if not_found is not None and not provider_failed:
            raise not_found
        reasons = "; ".join(problems)
        raise NoProviderAvailableError(self.name, f"no provider could serve the request: {reasons}")

    def status(self) -> list[dict[str, object]]:
        result: list[dict[str, object]] = []
        for index, slot in enumerate(self._slots):
            entry: dict[str, object] = {
                "name": slot.name,
                "role": "primary" if index == 0 else "backup",
                "active": slot.name == self._active,
                "circuit": slot.breaker.snapshot().as_dict(),
                "calls": slot.calls,
                "failures": slot.failures,
                "bars_received": slot.bars_received,
                "last_success_at": slot.last_success_at.isoformat() if slot.last_success_at else None,
                "last_error": slot.last_error.as_dict() if slot.last_error else None,
                "credits": slot.limiter.usage().as_dict() if slot.limiter else None,
            }
            if slot.feeds:
                entry["bars_by_feed"] = dict(slot.feeds)
            adjustment = getattr(slot.provider, "adjustment_stats", None)
            if isinstance(adjustment, AdjustmentStats):
                entry["adjustment"] = adjustment.as_dict()
            result.append(entry)
        return result
