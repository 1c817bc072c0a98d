"""Parity on a large window: `python -m bench.parity [--symbols ...] [--sessions N] [--speed X]`.

Runs `trader up` (embedded default) on the replay clock over N sessions of the S&P 500 sample
(one data source, so a session's bars are stored together) and `trader backtest --through-risk`
over the same window and settings, then compares decisions, fills and final equity trade by
trade. Prints the counts and the agreement; exits 1 on any disagreement, or when the live system
fell behind its clock (then it judged on later data than the backtest, and the run says so).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from tests.e2e.parity import Window, compare

DEFAULT_SYMBOLS = "AMZN,BAC,C,CSCO,CVX,GE,HPQ,INTC,JNJ,JPM,KO,ORCL,PEP,PFE,PG,T,VZ,WFC,WMT,XOM"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parity", description=__doc__)
    parser.add_argument("--symbols", default=DEFAULT_SYMBOLS)
    parser.add_argument("--first-day", default="2010-01-04")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--speed", type=float, default=21600.0)
    parser.add_argument("--fast", type=int, default=3)
    parser.add_argument("--slow", type=int, default=8)
    options = parser.parse_args(argv)
    window = Window(
        symbols=tuple(s.strip().upper() for s in options.symbols.split(",") if s.strip()),
        first_day=date.fromisoformat(options.first_day),
        sessions=options.sessions,
        parameters={"fast_window": options.fast, "slow_window": options.slow},
        speed=options.speed,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="parity-") as workdir:
        comparison = compare(window, Path(workdir), timeout_seconds=3600)
    elapsed = time.monotonic() - started
    approved = sum(1 for order in comparison.live_orders if order["decision"] == "approved")
    rejected = sum(1 for order in comparison.live_orders if order["rejected"])
    print(
        f"window: {len(window.symbols)} symbols, {window.sessions} sessions from {window.first_day}, "
        f"x{window.speed:g} ({elapsed:.0f}s)"
    )
    print(f"{'':24}{'live':>12}{'backtest':>12}")
    print(f"{'decisions':24}{len(comparison.live_orders):>12}{len(comparison.backtest_orders):>12}")
    print(
        f"{'  approved':24}{approved:>12}"
        f"{sum(1 for o in comparison.backtest_orders if o['decision'] == 'approved'):>12}"
    )
    print(
        f"{'  rejected by broker':24}{rejected:>12}"
        f"{sum(1 for o in comparison.backtest_orders if o['rejected']):>12}"
    )
    print(f"{'fills':24}{len(comparison.live_fills):>12}{len(comparison.backtest_fills):>12}")
    print(f"{'final equity':24}{comparison.live_equity!s:>12}{comparison.backtest_equity!s:>12}")
    agreeing = sum(
        1
        for live, backtest in zip(comparison.live_orders, comparison.backtest_orders, strict=False)
        if live == backtest
    )
    print(
        f"decisions agreeing: {agreeing}/{max(len(comparison.live_orders), len(comparison.backtest_orders))}"
    )
    if comparison.late:
        print(
            f"the live system fell behind its clock {len(comparison.late)} times, e.g. {comparison.late[0]}"
        )
    for line in comparison.mismatches[:20]:
        print(f"MISMATCH {line}")
    return 1 if comparison.mismatches or comparison.late else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
