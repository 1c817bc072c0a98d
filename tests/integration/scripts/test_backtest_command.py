"""`trader backtest` on the bundled sample bars: the strategy beside buy-and-hold, with the
system's costs by default and the command line's when it names them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ARGUMENTS = ["sma_crossover", "-p", "fast_window=10", "-p", "slow_window=30", "--symbols", "AAPL,MSFT"]
WINDOW = ["--start", "2006-01-01", "--end", "2008-01-01"]


def backtest(tmp_path: Path, *extra: str, **environment: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "trader.cli", "backtest", *ARGUMENTS, *WINDOW, *extra],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200", "LOG_DIR": str(tmp_path / "logs"), **environment},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def final_equities(output: str) -> tuple[str, str]:
    found = re.search(r"final_equity\s*│\s*([\d.]+)\s*│\s*([\d.]+)", output)
    assert found, output
    return found.group(1), found.group(2)


def test_backtest_shows_buy_and_hold_and_charges_the_settings_costs(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    default = backtest(tmp_path, "--report", str(report))
    assert re.search(r"metric\s*┃\s*strategy\s*┃\s*buy and hold", default), default
    assert "costs: slippage 5 bps, commission 0/share, SEC fee 0.0000278/$ sold" in default
    assert "FINRA TAF 0.000166/share sold (max 8.30/trade)" in default
    page = report.read_text()
    assert "<th>strategy</th><th>buy and hold</th>" in page and "stroke-dasharray" in page

    # The settings move every backtest; the command line moves one.
    cheaper = backtest(tmp_path, SIMULATED_SLIPPAGE_BPS="0", SEC_FEE_RATE="0", FINRA_TAF_PER_SHARE="0")
    assert "costs: slippage 0 bps" in cheaper and "SEC fee 0/$ sold" in cheaper
    dearer = backtest(tmp_path, "--slippage-bps", "50", "--commission-per-share", "0.01")
    assert "costs: slippage 50 bps, commission 0.01/share" in dearer
    strategy, held = final_equities(default)
    free_strategy, free_held = final_equities(cheaper)
    costly_strategy, costly_held = final_equities(dearer)
    assert float(costly_strategy) < float(strategy) < float(free_strategy)
    assert float(costly_held) < float(held) < float(free_held)  # buy-and-hold pays the same costs
