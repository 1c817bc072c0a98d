"""Risk limits: refused when nonsensical, stored and read back as a plain dict, set from the environment."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from trader.core.risk.limits import (
    LIMITS_SCHEMA_VERSION,
    InvalidRiskLimitsError,
    RiskLimits,
    environment_names,
    limits_from_environment,
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_position_pct": Decimal("-0.1")}, "max_position_pct must be a fraction in (0, 1], got -0.1"),
        ({"max_position_pct": Decimal("20")}, "(write 0.2 for 20%)"),
        ({"daily_loss_limit_pct": Decimal("0")}, "daily_loss_limit_pct must be a fraction in (0, 1]"),
        (
            {"min_order_notional": Decimal("500"), "max_order_notional": Decimal("100")},
            "max_order_notional (100) must be greater than min_order_notional (500)",
        ),
        ({"max_open_positions": 0}, "max_open_positions must be at least 1"),
        ({"signal_cooldown_seconds": -1}, "signal_cooldown_seconds cannot be negative"),
        ({"max_gross_exposure_pct": Decimal("5")}, "max_gross_exposure_pct must be in (0, 4]"),
        ({"max_symbol_volatility": Decimal("0")}, "max_symbol_volatility must be positive or null"),
        ({"allow_shorting": "yes"}, "allow_shorting must be true or false"),
        ({"max_trades_per_day": 2.5}, "max_trades_per_day must be a whole number"),
        ({"max_drawdown_pct": "a lot"}, "max_drawdown_pct must be a number"),
        (
            {"max_position_pct": Decimal("0.6"), "max_gross_exposure_pct": Decimal("0.5")},
            "max_position_pct (0.6) cannot exceed max_gross_exposure_pct (0.5)",
        ),
    ],
)
def test_nonsensical_limits_are_refused_with_a_clear_message(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRiskLimitsError) as raised:
        RiskLimits(**changes)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(InvalidRiskLimitsError) as raised:
        RiskLimits(max_position_pct=Decimal("-1"), max_drawdown_pct=Decimal("2"))
    assert "max_position_pct" in str(raised.value)
    assert "max_drawdown_pct" in str(raised.value)


def test_a_limit_exactly_at_its_bounds_is_accepted() -> None:
    limits = RiskLimits(
        max_position_pct=Decimal("1"),
        max_gross_exposure_pct=Decimal("4"),
        min_order_notional=Decimal("0"),
        max_order_notional=Decimal("0.01"),
        max_open_positions=1,
        signal_cooldown_seconds=0,
    )
    assert limits.max_gross_exposure_pct == Decimal("4")


def test_round_trip_through_json_keeps_every_digit() -> None:
    limits = RiskLimits(
        max_position_pct=Decimal("0.123456789"), max_symbol_volatility=None, allow_shorting=True
    )
    stored = json.dumps(limits.to_dict())
    restored = RiskLimits.from_dict(json.loads(stored))
    assert restored == limits
    assert json.loads(stored)["schema_version"] == LIMITS_SCHEMA_VERSION
    assert json.loads(stored)["max_position_pct"] == "0.123456789"


def test_rows_from_before_a_limit_existed_take_its_default_and_typos_are_refused() -> None:
    assert RiskLimits.from_dict({"max_position_pct": "0.05"}) == RiskLimits(max_position_pct=Decimal("0.05"))
    with pytest.raises(InvalidRiskLimitsError, match=r"unknown risk limit.*max_postion_pct"):
        RiskLimits.from_dict({"max_postion_pct": "0.05"})
    with pytest.raises(InvalidRiskLimitsError, match="schema_version"):
        RiskLimits.from_dict({"schema_version": 99})


def test_environment_overrides_the_defaults_including_the_guides_names() -> None:
    environment = {
        "RISK_MAX_POSITION_SIZE": "0.05",
        "RISK_MAX_PORTFOLIO_RISK": "0.01",
        "RISK_DRAWDOWN_LIMIT": "0.2",
        "RISK_MAX_OPEN_POSITIONS": "7",
        "RISK_ALLOW_SHORTING": "true",
        "RISK_MAX_SYMBOL_VOLATILITY": "none",
        "UNRELATED": "x",
    }
    limits = limits_from_environment(environment)
    assert limits.max_position_pct == Decimal("0.05")
    assert limits.risk_per_trade_pct == Decimal("0.01")
    assert limits.max_drawdown_pct == Decimal("0.2")
    assert limits.max_open_positions == 7
    assert limits.allow_shorting is True
    assert limits.max_symbol_volatility is None
    assert limits.daily_loss_limit_pct == RiskLimits().daily_loss_limit_pct


def test_environment_values_are_validated() -> None:
    with pytest.raises(InvalidRiskLimitsError, match="RISK_MAX_OPEN_POSITIONS must be a whole number"):
        limits_from_environment({"RISK_MAX_OPEN_POSITIONS": "many"})
    with pytest.raises(InvalidRiskLimitsError, match=re.escape("write 0.2 for 20%")):
        limits_from_environment({"RISK_MAX_POSITION_SIZE": "20"})


def test_every_field_has_an_environment_name() -> None:
    assert set(environment_names().values()) == set(RiskLimits().to_dict()) - {"schema_version"}
