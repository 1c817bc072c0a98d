"""Discover user strategies: Python files in the strategies folder and installed entry points.

A user strategy is a frozen dataclass that satisfies `trader.core.strategies.Strategy`, whose
fields (all with defaults) are its parameters. A file exposes it as `STRATEGY = MyStrategy`
(or several as `STRATEGIES = (A, B)`); a package exposes it as an entry point in the group
`trader.strategies`. Its type name is the default instance's `name`, its documentation the
class docstring and a `PARAMETER_DOCS` mapping.

Every discovered strategy is run through the look-ahead check on synthetic bars before it is
catalogued; one that fails (or cannot be built, or raises) is reported and left out, so it can
never be configured, let alone trade.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trader.backtest.synthetic import gbm_bars
from trader.core.lookahead import check_lookahead
from trader.core.strategies.base import Strategy
from trader.core.strategies.catalog import StrategyCatalog, built_in_catalog, strategy_type_from_dataclass

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "trader.strategies"
_MODULE_PREFIX = "trader_user_strategies"


@dataclass(frozen=True, slots=True)
class LoadProblem:
    source: str
    message: str


@dataclass(frozen=True, slots=True)
class LoadedStrategy:
    name: str
    source: str
    checked_lengths: int


@dataclass(slots=True)
class DiscoveryReport:
    loaded: list[LoadedStrategy] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)


def _classes_in_module(module: Any) -> list[Any]:
    if hasattr(module, "STRATEGIES"):
        return list(module.STRATEGIES)
    if hasattr(module, "STRATEGY"):
        return [module.STRATEGY]
    return []


def _import_file(path: Path) -> Any:
    module_name = f"{_MODULE_PREFIX}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered so dataclasses and pickling (forked process pools) find the module by name.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _candidates_from_files(directory: Path, report: DiscoveryReport) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith(("_", "test_")):
            continue
        try:
            module = _import_file(path)
        except Exception as error:  # a broken user file is reported, not fatal
            report.problems.append(LoadProblem(str(path), f"import failed: {type(error).__name__}: {error}"))
            continue
        classes = _classes_in_module(module)
        if not classes:
            report.problems.append(
                LoadProblem(str(path), "defines no STRATEGY (or STRATEGIES); nothing to load")
            )
        found += [(f"file {path}", cls) for cls in classes]
    return found


def _candidates_from_entry_points(report: DiscoveryReport) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry_point.name} ({entry_point.value})"
        try:
            found.append((source, entry_point.load()))
        except Exception as error:  # a broken plug-in is reported, not fatal
            report.problems.append(LoadProblem(source, f"load failed: {type(error).__name__}: {error}"))
    return found


def admit_strategy(
    catalog: StrategyCatalog, source: str, cls: Any, *, check_bars: int, report: DiscoveryReport
) -> bool:
    """Check one user strategy class and, if it passes, add it to `catalog`."""
    try:
        instance = cls()
    except Exception as error:
        report.problems.append(LoadProblem(source, f"cannot build with default parameters: {error}"))
        return False
    if not isinstance(instance, Strategy):
        report.problems.append(
            LoadProblem(source, f"{cls!r} lacks name, lookback_bars, parameters() or generate()")
        )
        return False
    name = str(instance.name)
    try:
        strategy_type = strategy_type_from_dataclass(
            cls,
            name=name,
            summary=inspect.getdoc(cls) or "",
            docs=dict(getattr(cls, "PARAMETER_DOCS", {})),
            source=source,
        )
    except TypeError as error:
        report.problems.append(LoadProblem(source, str(error)))
        return False
    bars = gbm_bars(check_bars, seed=7, volatility=0.015, bar_seconds=86_400)
    try:
        lookahead = check_lookahead(instance, bars)
    except Exception as error:
        report.problems.append(LoadProblem(source, f"{name}: failed on synthetic bars: {error}"))
        return False
    if not lookahead.passed:
        first = lookahead.violations[0]
        report.problems.append(
            LoadProblem(
                source,
                f"{name} fails the look-ahead check: its {first.signal} signal at bar {first.bar_index} "
                f"changes when the bars after {first.truncated_length - 1} are removed "
                f"({len(lookahead.violations)} such signals); it is not loaded",
            )
        )
        return False
    try:
        catalog.register(strategy_type)
    except ValueError as error:
        report.problems.append(LoadProblem(source, str(error)))
        return False
    report.loaded.append(LoadedStrategy(name, source, len(lookahead.checked_lengths)))
    return True


def discover_strategies(
    strategies_dir: Path | None,
    *,
    include_entry_points: bool = True,
    check_bars: int = 1500,
    catalog: StrategyCatalog | None = None,
) -> tuple[StrategyCatalog, DiscoveryReport]:
    """The built-in catalogue plus every user strategy that loads and passes the look-ahead check."""
    catalog = catalog or built_in_catalog()
    report = DiscoveryReport()
    candidates: list[tuple[str, Any]] = []
    if strategies_dir is not None:
        candidates += _candidates_from_files(strategies_dir, report)
    if include_entry_points:
        candidates += _candidates_from_entry_points(report)
    for source, cls in candidates:
        admit_strategy(catalog, source, cls, check_bars=check_bars, report=report)
    for problem in report.problems:
        log.warning("user strategy from %s refused: %s", problem.source, problem.message)
    for loaded in report.loaded:
        log.info("user strategy %s loaded from %s (look-ahead check passed)", loaded.name, loaded.source)
    return catalog, report
