"""One tool, one size, in a fresh process: prints a JSON line with times and results.

Run by `python -m bench.backtest`; each tool gets its own process so that "first run" means
a fresh interpreter (numba compilation, caches and all), as a user would see it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bench.backtest.peers import PeerResult
from trader.backtest.stamp import hash_bar_data
from trader.backtest.synthetic import gbm_bars
from trader.core.strategies.series import BarSeries

FAST, SLOW, CASH = 10, 30, 1_000_000.0
SWEEP_FAST = list(range(5, 15))
SWEEP_SLOW = list(range(20, 120, 10))


def timed(function: Callable[[], Any], repeats: int) -> tuple[Any, float, float | None]:
    """(result, first-call seconds, median of `repeats` further calls or None)."""
    started = time.perf_counter()
    result = function()
    cold = time.perf_counter() - started
    warm_times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        warm_times.append(time.perf_counter() - started)
    return result, cold, (statistics.median(warm_times) if warm_times else None)


def peer_terms() -> Any:
    """The peers' terms: frictionless fills (the system's default charges slippage and fees)."""
    from trader.backtest.engine import BacktestConfig
    from trader.core.fills import FillModel

    return BacktestConfig(initial_cash=Decimal(int(CASH)), fill_model=FillModel.frictionless())


def ours(series: BarSeries) -> PeerResult:
    from trader.backtest.engine import run_backtest
    from trader.core.strategies import SmaCrossover

    result = run_backtest(SmaCrossover(FAST, SLOW), series, peer_terms())
    table = result.trades
    trades = list(
        zip(table.entry_bar.tolist(), table.exit_bar.tolist(), table.quantity.tolist(), strict=True)
    )
    return PeerResult("ours", float(result.equity[-1]), trades)


def reference(series: BarSeries) -> PeerResult:
    from bench.backtest.reference import run_reference

    final, trades = run_reference(series.open, series.close, FAST, SLOW, CASH)
    return PeerResult("numpy reference", final, trades)


def multi_symbol(size: int, symbols: int) -> tuple[int, float, float | None, int]:
    from trader.backtest.engine import BacktestConfig, StopRules, run_backtest
    from trader.core.fills import Commission, FillModel, Slippage
    from trader.core.strategies import SmaCrossover

    data = [gbm_bars(size, seed=100 + number, symbol=f"S{number}") for number in range(symbols)]
    config = BacktestConfig(
        fill_model=FillModel(
            slippage=Slippage(Decimal(1)), commission=Commission(Decimal("0.005"), Decimal(0), Decimal(1))
        ),
        stops=StopRules(
            stop_loss=Decimal("0.01"), take_profit=Decimal("0.02"), trailing_stop=Decimal("0.005")
        ),
        allocation=Decimal(1) / symbols,
    )
    result, cold, warm = timed(lambda: run_backtest(SmaCrossover(FAST, SLOW), data, config), 2)
    return size * symbols, cold, warm, len(result.trades)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tool")
    parser.add_argument("size", type=int)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    tool, size = arguments.tool, arguments.size
    if tool == "multi":
        symbol_bars, cold, warm, trades = multi_symbol(size // 10, 10)
        print(
            json.dumps(
                {"tool": tool, "symbol_bars": symbol_bars, "cold": cold, "warm": warm, "trades": trades}
            )
        )
        return
    series = gbm_bars(size, seed=42)
    output: dict[str, Any] = {"tool": tool, "size": size, "data_hash": hash_bar_data([series])[:16]}
    if tool in ("ours_sweep", "vectorbt_sweep"):
        if tool == "ours_sweep":
            from trader.backtest.sweep import sweep_sma_crossover

            def run_sweep() -> dict[str, float]:
                rows = sweep_sma_crossover(series, SWEEP_FAST, SWEEP_SLOW, peer_terms())
                return {
                    f"{r.parameters['fast_window']}/{r.parameters['slow_window']}": r.final_equity
                    for r in rows
                }
        else:
            import vectorbt  # imported before the clock starts, like every other tool

            from bench.backtest.peers import vectorbt_sweep

            def run_sweep() -> dict[str, float]:
                finals = vectorbt_sweep(series, SWEEP_FAST, SWEEP_SLOW, CASH)
                return {f"{fast}/{slow}": value for (fast, slow), value in finals.items()}

        finals, cold, warm = timed(run_sweep, 1)
        output.update(cold=cold, warm=warm, finals=finals)
        print(json.dumps(output))
        return
    runners: dict[str, Callable[[BarSeries], PeerResult]] = {"ours": ours, "reference": reference}
    repeats = arguments.repeats
    if tool == "vectorbt":
        import vectorbt  # noqa: F401

        from bench.backtest.peers import run_vectorbt

        runners[tool] = run_vectorbt
    elif tool == "backtesting.py":
        import backtesting  # noqa: F401

        from bench.backtest.peers import run_backtesting_py

        runners[tool] = run_backtesting_py
        repeats = 0
    elif tool == "backtrader":
        import backtrader  # noqa: F401

        from bench.backtest.peers import run_backtrader

        runners[tool] = run_backtrader
        repeats = 0
    elif tool == "ours":
        import trader.backtest.engine  # noqa: F401
    runner = runners[tool]
    result, cold, warm = timed(lambda: runner(series), repeats)
    output.update(cold=cold, warm=warm, final_equity=result.final_equity, trades=result.trades)
    print(json.dumps(output))


if __name__ == "__main__":
    main()
