"""The strategy engine's `strategy_data` health component over the data-status answer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from trader.services.strategy_engine.readiness import StrategyDataNotReadyError, StrategyDataReadiness


class DataStatus:
    """The answer of `/strategies/data-status`, as the test sets it; counts the calls."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls = 0

    async def __call__(self) -> Mapping[str, Any]:
        self.calls += 1
        return {"symbols": self.rows}


def row(symbol: str, *, ready: bool, enabled: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "strategy": "default",
        "symbol": symbol,
        "enabled": enabled,
        "ready": ready,
        "bars_available": 40 if ready else 3,
        "lookback_needed": 32,
        **extra,
    }


async def test_it_names_the_pairs_that_cannot_trade_and_says_why() -> None:
    status = DataStatus(
        [
            row("AAPL", ready=True),
            row("MSFT", ready=False),
            row("IBM", ready=False, reason="no 1day bars since 2010-03-01"),
            row("XOM", ready=False, enabled=False),
        ]
    )
    with pytest.raises(StrategyDataNotReadyError) as raised:
        await StrategyDataReadiness(status).check()
    assert str(raised.value) == (
        "2 of 3 enabled strategy symbols cannot trade yet: default/MSFT (3 of 32 bars), "
        "default/IBM (no 1day bars since 2010-03-01); see GET /strategies/data-status"
    )


async def test_the_answer_is_reused_for_a_while_and_each_change_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    status = DataStatus([row(f"S{index}", ready=False) for index in range(7)])
    readiness = StrategyDataReadiness(status, max_age_seconds=3600, retry_seconds=3600)
    for _ in range(3):
        with pytest.raises(StrategyDataNotReadyError, match=r"7 of 7 .* and 2 more"):
            await readiness.check()
    assert status.calls == 1
    assert caplog.text.count("cannot trade yet") == 1

    status.rows = [row("S0", ready=True)]
    fresh = StrategyDataReadiness(status, max_age_seconds=0, retry_seconds=0)
    assert await fresh.check() == "1 enabled strategy symbols ready"
    status.rows = [row("S0", ready=False)]
    with pytest.raises(StrategyDataNotReadyError):
        await fresh.check()
    status.rows = [row("S0", ready=True)]
    assert await fresh.check() == "1 enabled strategy symbols ready"
    assert "every enabled strategy symbol has its lookback again" in caplog.text
