"""Parameter optimisation: grid and random search, run in parallel over the machine's cores.

Each candidate is built through the strategy catalogue (so invalid combinations are refused the
same way a configuration would be, and counted as skipped) and run through the full engine.
Work goes to a process pool in chunks; `processes=1` runs inline. Results are sorted by the
objective, best first; NaN objectives sort last.
"""

from __future__ import annotations

import itertools
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from trader.backtest.engine import BacktestConfig, run_backtest
from trader.backtest.metrics import PerformanceMetrics
from trader.core.strategies.catalog import InvalidParametersError, StrategyCatalog, built_in_catalog
from trader.core.strategies.series import BarSeries

ProgressCallback = Callable[[int, int], None]
OBJECTIVES = (
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "total_return",
    "annual_return",
    "profit_factor",
    "win_rate",
)
_CHUNK = 8


@dataclass(frozen=True, slots=True)
class OptimizationRow:
    parameters: Mapping[str, object]
    objective: float
    metrics: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    strategy_type: str
    objective: str
    rows: tuple[OptimizationRow, ...]
    skipped: tuple[tuple[Mapping[str, object], str], ...] = field(default_factory=tuple)

    @property
    def best(self) -> OptimizationRow:
        if not self.rows:
            raise ValueError("no parameter combination was valid; see `skipped` for why")
        return self.rows[0]


def metrics_as_dict(metrics: PerformanceMetrics) -> dict[str, float]:
    return {
        "total_return": metrics.total_return,
        "annual_return": metrics.annual_return,
        "sharpe_ratio": metrics.sharpe_ratio,
        "sortino_ratio": metrics.sortino_ratio,
        "calmar_ratio": metrics.calmar_ratio,
        "max_drawdown": metrics.max_drawdown,
        "win_rate": metrics.win_rate,
        "profit_factor": metrics.profit_factor,
        "exposure": metrics.exposure,
        "trade_count": float(metrics.trade_count),
        "final_equity": float(metrics.final_equity),
    }


def grid(space: Mapping[str, Sequence[object]]) -> list[dict[str, object]]:
    """Every combination of the listed values."""
    names = list(space)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(space[n] for n in names))]


def random_draws(
    space: Mapping[str, Sequence[object] | tuple[float, float]], count: int, seed: int = 0
) -> list[dict[str, object]]:
    """`count` draws: a list is sampled uniformly; a 2-tuple (low, high) is a range (integer if both are)."""
    generator = random.Random(seed)  # noqa: S311 - sampling parameters, not secrets
    draws = []
    for _ in range(count):
        draw: dict[str, object] = {}
        for name, values in space.items():
            if (
                isinstance(values, tuple)
                and len(values) == 2
                and all(isinstance(v, int | float) for v in values)
            ):
                low, high = values
                if isinstance(low, int) and isinstance(high, int):
                    draw[name] = generator.randint(low, high)
                else:
                    draw[name] = generator.uniform(float(low), float(high))  # type: ignore[arg-type]
            else:
                draw[name] = generator.choice(list(values))
        draws.append(draw)
    return draws


def _evaluate(
    catalog: StrategyCatalog,
    strategy_type: str,
    parameters: Mapping[str, object],
    data: Sequence[BarSeries],
    config: BacktestConfig,
    objective: str,
) -> OptimizationRow | tuple[Mapping[str, object], str]:
    try:
        strategy = catalog.build(strategy_type, parameters)
    except InvalidParametersError as error:
        return (parameters, str(error))
    result = run_backtest(strategy, list(data), config)
    metrics = metrics_as_dict(result.metrics)
    return OptimizationRow(dict(parameters), metrics[objective], metrics)


def _evaluate_chunk(
    catalog: StrategyCatalog,
    strategy_type: str,
    chunk: Sequence[Mapping[str, object]],
    data: Sequence[BarSeries],
    config: BacktestConfig,
    objective: str,
) -> list[OptimizationRow | tuple[Mapping[str, object], str]]:
    return [_evaluate(catalog, strategy_type, parameters, data, config, objective) for parameters in chunk]


@contextmanager
def cluster_executor(address: str, *, connect_timeout_seconds: float = 10) -> Iterator[Executor]:
    """A `concurrent.futures` executor on an existing Dask cluster (the optional `cluster` extra).
    Dask keeps retrying a refused connection until the timeout."""
    try:
        from distributed import Client
    except ImportError as error:
        raise ValueError(
            "a cluster needs the optional extra: pip install 'full-ai-trader[cluster]'"
        ) from error
    try:
        client = Client(address, timeout=f"{connect_timeout_seconds}s")  # type: ignore[no-untyped-call]
    except OSError as error:
        raise ValueError(f"cannot reach the Dask scheduler at {address}: {error}") from error
    try:
        yield client.get_executor()  # type: ignore[no-untyped-call]
    finally:
        client.close()  # type: ignore[no-untyped-call]


def default_processes() -> int:
    return max(1, os.cpu_count() or 1)


def search(
    strategy_type: str,
    candidates: Iterable[Mapping[str, object]],
    data: BarSeries | Sequence[BarSeries],
    config: BacktestConfig | None = None,
    *,
    objective: str = "sharpe_ratio",
    processes: int | None = None,
    catalog: StrategyCatalog | None = None,
    on_progress: ProgressCallback | None = None,
    executor: Executor | None = None,
) -> OptimizationResult:
    """Backtest every candidate parameter set of `strategy_type` and rank them by `objective`.

    Runs inline, on a local process pool (`processes`), or on any `concurrent.futures` executor
    the caller owns, such as a Dask cluster's (`cluster_executor`).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    catalog = catalog or built_in_catalog()
    catalog.get(strategy_type)
    config = config or BacktestConfig()
    series_list = [data] if isinstance(data, BarSeries) else list(data)
    todo = list(candidates)
    total = len(todo)
    outcomes: list[OptimizationRow | tuple[Mapping[str, object], str]] = []
    workers = min(processes or default_processes(), max(1, math.ceil(total / _CHUNK)))
    if executor is None and workers <= 1:
        for parameters in todo:
            outcomes.append(_evaluate(catalog, strategy_type, parameters, series_list, config, objective))
            if on_progress is not None:
                on_progress(len(outcomes), total)
    else:
        chunks = [todo[start : start + _CHUNK] for start in range(0, total, _CHUNK)]
        with ExitStack() as stack:
            pool = executor or stack.enter_context(ProcessPoolExecutor(max_workers=workers))
            futures = [
                pool.submit(_evaluate_chunk, catalog, strategy_type, chunk, series_list, config, objective)
                for chunk in chunks
            ]
            for future in as_completed(futures):
                outcomes.extend(future.result())
                if on_progress is not None:
                    on_progress(len(outcomes), total)
    rows = [outcome for outcome in outcomes if isinstance(outcome, OptimizationRow)]
    skipped = tuple(outcome for outcome in outcomes if not isinstance(outcome, OptimizationRow))
    rows.sort(
        key=lambda row: (math.isnan(row.objective), -row.objective if not math.isnan(row.objective) else 0)
    )
    return OptimizationResult(strategy_type, objective, tuple(rows), skipped)
