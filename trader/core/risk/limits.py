"""The risk limits: one frozen, validated record, stored as a versioned JSON row.

Percentages are fractions (0.2 means 20%). A limit that makes no sense is refused when the
record is built, with every problem named at once, so a bad `risk_parameters` row or a typo in
the environment stops the risk manager at start-up instead of approving orders against nonsense.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trader.core.money import InvalidAmountError, to_decimal

LIMITS_SCHEMA_VERSION = 1


class InvalidRiskLimitsError(ValueError):
    """Risk limits that cannot be used; the message lists every problem."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimits:
    # Largest single position, by absolute market value, as a fraction of equity.
    max_position_pct: Decimal = Decimal("0.10")
    # Long plus short market value over equity; 1 means no leverage.
    max_gross_exposure_pct: Decimal = Decimal("1.0")
    max_open_positions: int = 10
    min_order_notional: Decimal = Decimal("1")
    max_order_notional: Decimal = Decimal("100000")
    # Loss since the start of the ET trading day, as a fraction of that day's starting equity.
    daily_loss_limit_pct: Decimal = Decimal("0.03")
    max_drawdown_pct: Decimal = Decimal("0.15")
    max_trades_per_day: int = 100
    # Annualised volatility above which a symbol gets no new risk; None switches the cap off.
    max_symbol_volatility: Decimal | None = Decimal("1.0")
    max_sector_pct: Decimal = Decimal("0.50")
    # Exposure of a symbol plus every holding correlated with it at or above the threshold.
    max_correlated_pct: Decimal = Decimal("0.50")
    correlation_threshold: Decimal = Decimal("0.70")
    max_price_age_seconds: int = 300
    signal_cooldown_seconds: int = 300
    allow_shorting: bool = False
    allow_extended_hours: bool = False
    # Equity risked per trade between entry and stop, for stop-distance (ATR) sizing.
    risk_per_trade_pct: Decimal = Decimal("0.02")

    def __post_init__(self) -> None:
        problems: list[str] = []
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            expected = _FIELD_KINDS[item.name]
            if expected is bool:
                if not isinstance(value, bool):
                    problems.append(f"{item.name} must be true or false, got {value!r}")
            elif expected is int:
                if isinstance(value, bool) or not isinstance(value, int):
                    problems.append(f"{item.name} must be a whole number, got {value!r}")
            elif value is not None or item.name not in _OPTIONAL:
                try:
                    object.__setattr__(self, item.name, to_decimal(value))
                except InvalidAmountError:
                    problems.append(f"{item.name} must be a number, got {value!r}")
        if not problems:
            problems = self._range_problems()
        if problems:
            raise InvalidRiskLimitsError("invalid risk limits: " + "; ".join(problems))

    def _range_problems(self) -> list[str]:
        problems: list[str] = []
        for name in _FRACTIONS:
            value: Decimal = getattr(self, name)
            if not Decimal(0) < value <= Decimal(1):
                hint = " (write 0.2 for 20%)" if value > 1 else ""
                problems.append(f"{name} must be a fraction in (0, 1]{hint}, got {value}")
        if not Decimal(0) < self.max_gross_exposure_pct <= MAX_GROSS_LEVERAGE:
            problems.append(
                f"max_gross_exposure_pct must be in (0, {MAX_GROSS_LEVERAGE}] (1 means no leverage), "
                f"got {self.max_gross_exposure_pct}"
            )
        if self.max_symbol_volatility is not None and self.max_symbol_volatility <= 0:
            problems.append(
                f"max_symbol_volatility must be positive or null, got {self.max_symbol_volatility}"
            )
        for name in ("max_open_positions", "max_trades_per_day"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_price_age_seconds", "signal_cooldown_seconds"):
            if getattr(self, name) < 0:
                problems.append(f"{name} cannot be negative, got {getattr(self, name)}")
        if self.min_order_notional < 0:
            problems.append(f"min_order_notional cannot be negative, got {self.min_order_notional}")
        if self.max_order_notional <= self.min_order_notional:
            problems.append(
                f"max_order_notional ({self.max_order_notional}) must be greater than "
                f"min_order_notional ({self.min_order_notional})"
            )
        if self.max_position_pct > self.max_gross_exposure_pct:
            problems.append(
                f"max_position_pct ({self.max_position_pct}) cannot exceed "
                f"max_gross_exposure_pct ({self.max_gross_exposure_pct})"
            )
        return problems

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: decimals as strings so no digit is lost."""
        payload: dict[str, Any] = {"schema_version": LIMITS_SCHEMA_VERSION}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            payload[item.name] = str(value) if isinstance(value, Decimal) else value
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> RiskLimits:
        """Read a stored row. Missing keys take the defaults (rows written before a limit existed);
        unknown keys are refused, because a misspelt limit silently ignored is a limit not enforced."""
        version = payload.get("schema_version", LIMITS_SCHEMA_VERSION)
        if version != LIMITS_SCHEMA_VERSION:
            raise InvalidRiskLimitsError(
                f"risk limits schema_version {version!r} is not supported (expected {LIMITS_SCHEMA_VERSION})"
            )
        unknown = sorted(set(payload) - set(_FIELD_KINDS) - {"schema_version"})
        if unknown:
            raise InvalidRiskLimitsError(f"unknown risk limit(s): {', '.join(unknown)}")
        arguments = {name: value for name, value in payload.items() if name != "schema_version"}
        return cls(**arguments)

    def with_changes(self, **changes: Any) -> RiskLimits:
        return dataclasses.replace(self, **changes)


MAX_GROSS_LEVERAGE = Decimal(4)

_FRACTIONS = (
    "max_position_pct",
    "daily_loss_limit_pct",
    "max_drawdown_pct",
    "max_sector_pct",
    "max_correlated_pct",
    "correlation_threshold",
    "risk_per_trade_pct",
)
_OPTIONAL = frozenset({"max_symbol_volatility"})
_FIELD_KINDS: dict[str, type] = {
    "max_position_pct": Decimal,
    "max_gross_exposure_pct": Decimal,
    "max_open_positions": int,
    "min_order_notional": Decimal,
    "max_order_notional": Decimal,
    "daily_loss_limit_pct": Decimal,
    "max_drawdown_pct": Decimal,
    "max_trades_per_day": int,
    "max_symbol_volatility": Decimal,
    "max_sector_pct": Decimal,
    "max_correlated_pct": Decimal,
    "correlation_threshold": Decimal,
    "max_price_age_seconds": int,
    "signal_cooldown_seconds": int,
    "allow_shorting": bool,
    "allow_extended_hours": bool,
    "risk_per_trade_pct": Decimal,
}

# The guide's deployment sets these three names; every other limit is RISK_ + its field name.
ENVIRONMENT_ALIASES: Mapping[str, str] = {
    "RISK_MAX_POSITION_SIZE": "max_position_pct",
    "RISK_MAX_PORTFOLIO_RISK": "risk_per_trade_pct",
    "RISK_DRAWDOWN_LIMIT": "max_drawdown_pct",
}


def environment_names() -> dict[str, str]:
    """Every environment variable that sets a limit, mapped to the field it sets."""
    names = {f"RISK_{name.upper()}": name for name in _FIELD_KINDS}
    names.update(ENVIRONMENT_ALIASES)
    return names


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_NULL = frozenset({"", "none", "null", "off"})


def _parse_text(name: str, field_name: str, text: str) -> Any:
    kind = _FIELD_KINDS[field_name]
    cleaned = text.strip()
    if field_name in _OPTIONAL and cleaned.lower() in _NULL:
        return None
    if kind is bool:
        if cleaned.lower() in _TRUE:
            return True
        if cleaned.lower() in _FALSE:
            return False
        raise InvalidRiskLimitsError(f"{name} must be true or false, got {text!r}")
    if kind is int:
        try:
            return int(cleaned)
        except ValueError as error:
            raise InvalidRiskLimitsError(f"{name} must be a whole number, got {text!r}") from error
    return cleaned


def limits_from_environment(environment: Mapping[str, str], base: RiskLimits | None = None) -> RiskLimits:
    """Defaults overridden by whichever RISK_* variables are present (the caller passes os.environ)."""
    changes: dict[str, Any] = {}
    for name, field_name in environment_names().items():
        if name in environment:
            changes[field_name] = _parse_text(name, field_name, environment[name])
    return dataclasses.replace(base or RiskLimits(), **changes)
