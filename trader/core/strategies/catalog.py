"""The strategy catalogue: every strategy type by name, its documented parameters, and validation.

A strategy configuration names a type and gives parameter values as JSON; `StrategyCatalog.build`
checks each value against the type's parameters (unknown names, wrong kinds and the strategy's
own rules are refused with the parameter named) and returns the strategy. Composite types take
other strategies as parameters, written as {"type": ..., "parameters": {...}}.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trader.core.protective import PROTECTIVE_PARAMETERS, ProtectiveFractions
from trader.core.strategies.base import Strategy
from trader.core.strategies.bollinger_breakout import BollingerBreakout
from trader.core.strategies.bollinger_reversion import BollingerReversion
from trader.core.strategies.donchian_breakout import DonchianBreakout
from trader.core.strategies.ensemble import Ensemble
from trader.core.strategies.macd_crossover import MacdCrossover
from trader.core.strategies.momentum import Momentum
from trader.core.strategies.multi_timeframe import MultiTimeframeConfirmation
from trader.core.strategies.regime import RegimeFilter
from trader.core.strategies.rsi_reversion import RsiReversion
from trader.core.strategies.sma_crossover import SmaCrossover

PARAMETER_KINDS = ("int", "float", "bool", "str", "strategy", "strategies")
_KIND_OF_ANNOTATION: dict[object, str] = {
    "int": "int",
    int: "int",
    "float": "float",
    float: "float",
    "bool": "bool",
    bool: "bool",
    "str": "str",
    str: "str",
    "Strategy": "strategy",
    "tuple[Strategy, ...]": "strategies",
}


class UnknownStrategyTypeError(LookupError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown strategy type {name!r}; known types: {', '.join(sorted(known))}")
        self.name = name


class InvalidParametersError(ValueError):
    """A parameter value the strategy cannot take; `parameter` names it when one is to blame."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(f"{parameter}: {message}" if parameter else message)
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    kind: str
    default: object  # dataclasses.MISSING when required
    description: str

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "default": None if self.required or self.kind in ("strategy", "strategies") else self.default,
            "required": self.required,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class StrategyType:
    name: str
    summary: str
    factory: Any  # a dataclass whose fields are the parameters and whose instances are Strategies
    parameters: tuple[ParameterSpec, ...]
    source: str = "built-in"

    def parameter(self, name: str) -> ParameterSpec | None:
        return next((spec for spec in self.parameters if spec.name == name), None)

    def defaults(self) -> dict[str, object]:
        return {spec.name: spec.default for spec in self.parameters if not spec.required}


def strategy_type_from_dataclass(
    factory: Any, *, name: str, summary: str, docs: Mapping[str, str], source: str = "built-in"
) -> StrategyType:
    """Describe a dataclass strategy; every field must have a supported kind and a description."""
    if not dataclasses.is_dataclass(factory) or not isinstance(factory, type):
        raise TypeError(f"{factory!r} is not a dataclass type; strategy parameters are dataclass fields")
    specs = []
    for field in dataclasses.fields(factory):
        kind = _KIND_OF_ANNOTATION.get(field.type)
        if kind is None:
            raise TypeError(
                f"{factory.__name__}.{field.name} has type {field.type!r}; "
                f"parameters must be one of int, float, bool, str, Strategy, tuple[Strategy, ...]"
            )
        default: object = field.default
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        specs.append(ParameterSpec(field.name, kind, default, docs.get(field.name, "")))
    return StrategyType(name, summary, factory, tuple(specs), source)


class StrategyCatalog:
    def __init__(self, types: Iterable[StrategyType] = ()) -> None:
        self._types: dict[str, StrategyType] = {}
        for strategy_type in types:
            self.register(strategy_type)

    def register(self, strategy_type: StrategyType) -> None:
        existing = self._types.get(strategy_type.name)
        if existing is not None:
            raise ValueError(
                f"strategy type {strategy_type.name!r} from {strategy_type.source} "
                f"clashes with the one from {existing.source}"
            )
        self._types[strategy_type.name] = strategy_type

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._types))

    def types(self) -> tuple[StrategyType, ...]:
        return tuple(self._types[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def get(self, name: str) -> StrategyType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownStrategyTypeError(name, self._types) from None

    def build(
        self, type_name: str, parameters: Mapping[str, object] | None = None, *, path: str = ""
    ) -> Strategy:
        """The strategy `type_name` with `parameters` (missing ones take their defaults)."""
        strategy_type = self.get(type_name)
        given = dict(parameters or {})
        if not path:
            # An entry's protective levels: every configuration may give them; the strategy never
            # sees them (the strategy engine puts them on its entries' signals).
            try:
                ProtectiveFractions.from_parameters(given)
            except ValueError as error:
                name = next((n for n in PROTECTIVE_PARAMETERS if n in str(error)), None)
                raise InvalidParametersError(str(error), name) from None
            for name in PROTECTIVE_PARAMETERS:
                given.pop(name, None)
        known = {spec.name for spec in strategy_type.parameters}
        for name in given:
            if name not in known:
                raise InvalidParametersError(
                    f"unknown parameter for {type_name}; known: {', '.join(sorted(known)) or 'none'}",
                    f"{path}{name}",
                )
        arguments: dict[str, object] = {}
        for spec in strategy_type.parameters:
            where = f"{path}{spec.name}"
            if spec.name not in given:
                if spec.required:
                    raise InvalidParametersError(f"required by {type_name}", where)
                continue
            arguments[spec.name] = self._coerce(spec, given[spec.name], where)
        try:
            strategy: Strategy = strategy_type.factory(**arguments)
        except (ValueError, TypeError) as error:
            raise InvalidParametersError(f"{type_name}: {error}", path.rstrip(".") or None) from None
        return strategy

    def _coerce(self, spec: ParameterSpec, value: object, where: str) -> object:
        kind = spec.kind
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParametersError(f"must be an integer, got {value!r}", where)
            return value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParametersError(f"must be a number, got {value!r}", where)
            return float(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise InvalidParametersError(f"must be true or false, got {value!r}", where)
            return value
        if kind == "str":
            if not isinstance(value, str):
                raise InvalidParametersError(f"must be a string, got {value!r}", where)
            return value
        if kind == "strategy":
            return self._nested(value, where)
        if not isinstance(value, list | tuple):
            raise InvalidParametersError("must be a list of {type, parameters} objects", where)
        return tuple(self._nested(item, f"{where}[{index}]") for index, item in enumerate(value))

    def _nested(self, value: object, where: str) -> Strategy:
        if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
            raise InvalidParametersError('must be an object {"type": ..., "parameters": {...}}', where)
        nested_parameters = value.get("parameters") or {}
        if not isinstance(nested_parameters, Mapping):
            raise InvalidParametersError("parameters must be an object", where)
        type_name = str(value["type"])
        if type_name not in self._types:
            raise InvalidParametersError(str(UnknownStrategyTypeError(type_name, self._types)), where)
        return self.build(type_name, nested_parameters, path=f"{where}.")


_WINDOW = "bars in the rolling window"
BUILT_IN_TYPES: tuple[StrategyType, ...] = (
    strategy_type_from_dataclass(
        SmaCrossover,
        name="sma_crossover",
        summary="Long when the fast SMA crosses above the slow SMA; flat when it crosses below.",
        docs={"fast_window": "bars in the fast SMA", "slow_window": "bars in the slow SMA (> fast_window)"},
    ),
    strategy_type_from_dataclass(
        RsiReversion,
        name="rsi_reversion",
        summary="Mean reversion: long when RSI closes below `oversold`, flat when it closes above "
        "`overbought`.",
        docs={
            "window": "RSI window (Wilder smoothing)",
            "oversold": "RSI level below which to buy (0-100)",
            "overbought": "RSI level above which to sell (> oversold)",
            "warmup_multiple": "live window = window x this, so Wilder smoothing has forgotten its seed",
        },
    ),
    strategy_type_from_dataclass(
        MacdCrossover,
        name="macd_crossover",
        summary="Long when the MACD line crosses above its signal line; flat when it crosses below.",
        docs={
            "fast_window": "fast EMA span",
            "slow_window": "slow EMA span (> fast_window)",
            "signal_window": "EMA span of the signal line",
            "warmup_multiple": "live window = (slow + signal) x this, so the EMAs have forgotten their seed",
        },
    ),
    strategy_type_from_dataclass(
        BollingerReversion,
        name="bollinger_reversion",
        summary="Long on a close below the lower Bollinger band; flat on a close above the middle band.",
        docs={"window": _WINDOW, "deviations": "band width in population standard deviations"},
    ),
    strategy_type_from_dataclass(
        BollingerBreakout,
        name="bollinger_breakout",
        summary="Long on a close above the upper Bollinger band; flat on a close below the middle band.",
        docs={"window": _WINDOW, "deviations": "band width in population standard deviations"},
    ),
    strategy_type_from_dataclass(
        DonchianBreakout,
        name="donchian_breakout",
        summary="Long on a close above the prior `entry_window` high; flat on a close below the prior "
        "`exit_window` low.",
        docs={"entry_window": "bars in the breakout channel", "exit_window": "bars in the exit channel"},
    ),
    strategy_type_from_dataclass(
        Momentum,
        name="momentum",
        summary="Long when the rate of change rises above `entry_percent`; flat when it falls below "
        "`exit_percent`.",
        docs={
            "window": "bars over which the rate of change is measured",
            "entry_percent": "rate of change (percent) that starts a position",
            "exit_percent": "rate of change (percent) that ends it (< entry_percent)",
        },
    ),
    strategy_type_from_dataclass(
        RegimeFilter,
        name="regime_filter",
        summary="Any strategy, with entries allowed only in the chosen trend and volatility regimes.",
        docs={
            "strategy": "the strategy to filter, as {type, parameters}",
            "allowed_trends": "comma-separated trend regimes to trade in: up, sideways, down",
            "allowed_volatility": "comma-separated volatility regimes to trade in: low, normal, high",
            "trend_window": "SMA window of the trend regime",
            "slope_bars": "bars over which the trend SMA must rise (up) or fall (down)",
            "volatility_window": "bars in the realised-volatility window",
            "baseline_window": "bars over which realised volatility is averaged for the ratio",
            "low_ratio": "volatility ratio below which the regime is low",
            "high_ratio": "volatility ratio above which the regime is high",
        },
    ),
    strategy_type_from_dataclass(
        MultiTimeframeConfirmation,
        name="multi_timeframe",
        summary="Any strategy, with entries allowed only while the higher timeframe trends up.",
        docs={
            "strategy": "the strategy to confirm, as {type, parameters}",
            "trend_window": "completed higher-timeframe periods in the trend SMA",
            "period_seconds": "length of a higher-timeframe period (604800 = a week)",
            "anchor_offset_seconds": "shift of period boundaries (259200 starts weeks on Monday)",
            "bars_per_period": "the most bars one period holds (sizes the live window)",
        },
    ),
    strategy_type_from_dataclass(
        Ensemble,
        name="ensemble",
        summary="Long while at least `min_votes` member strategies would be long.",
        docs={
            "members": "two or more strategies, each as {type, parameters}",
            "min_votes": "members that must be long (0 = a strict majority)",
            "memory_multiple": "live window = longest member lookback x this",
        },
    ),
)


def built_in_catalog() -> StrategyCatalog:
    return StrategyCatalog(BUILT_IN_TYPES)
