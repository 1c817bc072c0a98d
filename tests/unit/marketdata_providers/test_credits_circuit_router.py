"""Credit limiter, circuit breaker and failover router, with small fakes of our own provider port."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trader.adapters.clock import SimulatedClock
from trader.adapters.marketdata.cache import InProcessLatestBarCache, bar_from_json, bar_to_json
from trader.adapters.marketdata.circuit import CircuitBreaker, CircuitState
from trader.adapters.marketdata.credits import CreditLimiter
from trader.adapters.marketdata.errors import (
    CreditsExhaustedError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    SymbolNotFoundError,
)
from trader.adapters.marketdata.router import FailoverRouter, NoProviderAvailableError, ProviderSlot
from trader.core.market import Bar, Timeframe
from trader.core.ports import FetchedBars

START = datetime(2024, 1, 2, 15, 0, 10, tzinfo=UTC)
OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def bar(minute: int, close: str = "100") -> Bar:
    price = Decimal(close)
    return Bar(
        "AAPL", Timeframe.MINUTE1, OPEN + timedelta(minutes=minute), price, price, price, price, Decimal(1)
    )


class ScriptedProvider:
    """Answers from a queue: an exception to raise or a list of bars to return."""

    def __init__(self, name: str, script: list[ProviderError | list[Bar]] | None = None) -> None:
        self._name = name
        self.script = list(script or [])
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    async def fetch_bars(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> FetchedBars:
        self.calls += 1
        step = self.script.pop(0) if self.script else [bar(0)]
        if isinstance(step, ProviderError):
            raise step
        return FetchedBars(self._name, step, feed="iex" if self._name == "alpaca" else None)


async def test_limiter_spends_up_to_the_limit_then_waits_for_the_next_minute() -> None:
    clock = SimulatedClock(START, speed=0)
    limiter = CreditLimiter(clock, 3)
    for _ in range(3):
        await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    assert limiter.usage().used == 3 and limiter.usage().waits == 1
    clock.advance_to(datetime(2024, 1, 2, 15, 1, tzinfo=UTC))
    await asyncio.wait_for(waiting, 1)
    usage = limiter.usage()
    assert (usage.used, usage.total_spent) == (1, 4)
    assert usage.window_resets_at == datetime(2024, 1, 2, 15, 2, tzinfo=UTC)


async def test_an_exhausted_answer_blocks_the_rest_of_the_minute() -> None:
    clock = SimulatedClock(START, speed=0)
    limiter = CreditLimiter(clock, 8)
    await limiter.acquire()
    retry_at = limiter.note_exhausted(9)
    assert retry_at == datetime(2024, 1, 2, 15, 1, tzinfo=UTC)
    assert limiter.available_at() == retry_at
    assert limiter.usage().exhausted_answers == 1
    with pytest.raises(ValueError, match="never fit"):
        await limiter.acquire(9)


def test_breaker_opens_after_the_threshold_and_half_opens_after_the_cool_down() -> None:
    clock = SimulatedClock(START, speed=0)
    breaker = CircuitBreaker(clock, failure_threshold=2, cool_down=timedelta(seconds=30))
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.snapshot().state is CircuitState.OPEN and not breaker.allows_call()
    clock.advance_by(timedelta(seconds=30))
    assert breaker.snapshot().state is CircuitState.HALF_OPEN and breaker.allows_call()
    breaker.record_failure()  # the trial failed: open again, twice as long
    assert breaker.snapshot().retry_at == clock.now() + timedelta(seconds=60)
    clock.advance_by(timedelta(seconds=60))
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED and breaker.snapshot().consecutive_failures == 0


async def test_router_fails_over_on_exhausted_credits_and_returns_when_the_quota_resets() -> None:
    clock = SimulatedClock(START, speed=0)
    reset_at = datetime(2024, 1, 2, 15, 1, tzinfo=UTC)
    primary = ScriptedProvider(
        "twelvedata", [[bar(0)], CreditsExhaustedError("twelvedata", "credits exhausted", reset_at), [bar(2)]]
    )
    backup = ScriptedProvider("alpaca", [[bar(1)]])
    router = FailoverRouter(
        [ProviderSlot(primary, CircuitBreaker(clock)), ProviderSlot(backup, CircuitBreaker(clock))], clock
    )

    assert (await router.fetch_bars("AAPL", Timeframe.MINUTE1, OPEN, START)).provider == "twelvedata"
    served = await router.fetch_bars("AAPL", Timeframe.MINUTE1, OPEN, START)
    assert (served.provider, served.feed) == ("alpaca", "iex")
    status = {entry["name"]: entry for entry in router.status()}
    assert status["twelvedata"]["circuit"] == {
        "state": "open",
        "consecutive_failures": 1,
        "opened_at": START.isoformat(),
        "retry_at": reset_at.isoformat(),
    }
    assert status["twelvedata"]["last_error"]["kind"] == "credits_exhausted"  # type: ignore[index]
    assert status["alpaca"]["active"] is True

    # While the primary's circuit is open it is not called at all.
    await router.fetch_bars("AAPL", Timeframe.MINUTE1, OPEN, START)
    assert primary.calls == 2
    clock.advance_to(reset_at)
    assert (await router.fetch_bars("AAPL", Timeframe.MINUTE1, OPEN, START)).provider == "twelvedata"
    assert [(s.from_provider, s.to_provider) for s in router.switches] == [
        (None, "twelvedata"),
        ("twelvedata", "alpaca"),
        ("alpaca", "twelvedata"),
    ]
    assert router.switches[-1].reason == "twelvedata recovered"


async def test_router_reports_every_reason_when_all_providers_fail() -> None:
    clock = SimulatedClock(START, speed=0)
    router = FailoverRouter(
        [
            ProviderSlot(
                ScriptedProvider("twelvedata", [ProviderAuthError("twelvedata", "bad key")]),
                CircuitBreaker(clock),
            ),
            ProviderSlot(
                ScriptedProvider("alpaca", [ProviderUnavailableError("alpaca", "HTTP 500")]),
                CircuitBreaker(clock),
            ),
        ],
        clock,
    )
    with pytest.raises(NoProviderAvailableError) as caught:
        await router.fetch_bars("AAPL", Timeframe.MINUTE1, OPEN, START)
    assert "bad key" in str(caught.value) and "HTTP 500" in str(caught.value)
    # A refused key keeps the circuit open long; a 5xx counts toward the threshold only.
    states = {entry["name"]: entry["circuit"]["state"] for entry in router.status()}  # type: ignore[index]
    assert states == {"twelvedata": "open", "alpaca": "closed"}


async def test_an_unknown_symbol_is_not_a_provider_failure() -> None:
    clock = SimulatedClock(START, speed=0)
    primary = ScriptedProvider("twelvedata", [SymbolNotFoundError("twelvedata", "symbol ZZZZ not found")])
    backup = ScriptedProvider("alpaca", [SymbolNotFoundError("alpaca", "symbol ZZZZ not found")])
    router = FailoverRouter(
        [ProviderSlot(primary, CircuitBreaker(clock)), ProviderSlot(backup, CircuitBreaker(clock))], clock
    )
    with pytest.raises(SymbolNotFoundError):
        await router.fetch_bars("ZZZZ", Timeframe.MINUTE1, OPEN, START)
    assert all(entry["failures"] == 0 for entry in router.status())


async def test_latest_bar_cache_keeps_the_newest_and_round_trips_json() -> None:
    cache = InProcessLatestBarCache()
    await cache.remember([bar(3, "103"), bar(1, "101")])
    await cache.remember([bar(2, "102")])  # a late backfill never replaces a newer bar
    latest = await cache.latest("AAPL", Timeframe.MINUTE1)
    assert latest == bar(3, "103")
    assert bar_from_json(bar_to_json(bar(3, "103.12345678"))) == bar(3, "103.12345678")
