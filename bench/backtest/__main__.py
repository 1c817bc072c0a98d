"""SMA(10)/SMA(30) crossover on deterministic 1-minute GBM bars: our engine and its peers side by side.

    python -m bench.backtest                    # 10k, 100k, 1M bars; backtrader at 10k/100k only
    python -m bench.backtest --backtrader-1m    # backtrader at 1M too (~2 minutes)
    python -m bench.backtest --sizes 10000 --no-sweep --no-multi

Every tool runs in its own fresh process on the same bars (the data hash is checked); trades
and final equity must agree with ours, or the run exits non-zero. Times are of the run call
after imports: "first" is the first call in the fresh process (compilation included), "warm"
the median of repeated calls.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

TOOLS = ["ours", "reference", "vectorbt", "backtesting.py", "backtrader"]


def run_worker(tool: str, size: int) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.backtest.worker", tool, str(size)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"{tool} at {size} bars failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:8.3f}s"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--backtrader-1m", action="store_true", help="also run backtrader at 1M bars (~2 min)"
    )
    parser.add_argument("--tools", nargs="+", default=TOOLS, choices=TOOLS)
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--no-multi", action="store_true")
    parser.add_argument("--sweep-size", type=int, default=1_000_000)
    arguments = parser.parse_args()
    failures: list[str] = []

    for size in arguments.sizes:
        print(f"\n== SMA({10})/SMA({30}) crossover, {size:,} bars ==")
        print(
            f"{'tool':<16}{'first run':>11}{'warm':>11}{'first/ours':>12}{'trades':>8}"
            f"  {'final equity':>16}  agrees"
        )
        results: dict[str, dict[str, Any]] = {}
        for tool in arguments.tools:
            if tool == "backtrader" and size >= 1_000_000 and not arguments.backtrader_1m:
                continue
            results[tool] = run_worker(tool, size)
        base = results["ours"] if "ours" in results else next(iter(results.values()))
        for tool, result in results.items():
            agrees = (
                result["data_hash"] == base["data_hash"]
                and result["final_equity"] == base["final_equity"]
                and [list(trade) for trade in result["trades"]] == [list(trade) for trade in base["trades"]]
            )
            if not agrees:
                failures.append(f"{tool} at {size}")
            ratio = result["cold"] / base["cold"]
            print(
                f"{tool:<16}{seconds(result['cold']):>11}{seconds(result['warm']):>11}{ratio:>11.1f}x"
                f"{len(result['trades']):>8}  {result['final_equity']:>16,.4f}  {'yes' if agrees else 'NO'}"
            )
        if "reference" in results and "ours" in results:
            ours, reference = results["ours"], results["reference"]
            print(
                f"ours vs numpy reference: first run {ours['cold'] / reference['cold']:.2f}x, "
                f"warm {ours['warm'] / reference['warm']:.2f}x; "
                f"bars/s first run {size / ours['cold']:,.0f}"
            )

    if not arguments.no_sweep:
        size = arguments.sweep_size
        print(f"\n== 100-combination sweep (fast 5..14 x slow 20..110), {size:,} bars ==")
        ours = run_worker("ours_sweep", size)
        theirs = run_worker("vectorbt_sweep", size)
        agrees = ours["finals"] == theirs["finals"]
        if not agrees:
            failures.append("sweep")
        print(f"ours      first {seconds(ours['cold'])}  again {seconds(ours['warm'])}")
        print(f"vectorbt  first {seconds(theirs['cold'])}  again {seconds(theirs['warm'])}")
        print(
            f"ratio vectorbt/ours (again): {theirs['warm'] / ours['warm']:.1f}x; "
            f"all 100 final equities agree: {agrees}"
        )

    if not arguments.no_multi:
        multi = run_worker("multi", 1_000_000)
        print(
            "\n== full engine: 10 symbols x 100k bars, commission + slippage + "
            "stop-loss/take-profit/trailing ==\n"
            f"first {seconds(multi['cold'])} ({multi['symbol_bars'] / multi['cold']:,.0f} symbol-bars/s), "
            f"warm {seconds(multi['warm'])} ({multi['symbol_bars'] / multi['warm']:,.0f} symbol-bars/s), "
            f"{multi['trades']:,} trades"
        )

    if failures:
        print(f"\nDISAGREEMENT: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
