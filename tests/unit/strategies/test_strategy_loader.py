"""User strategies: the `strategy new` template loads and passes; peeking or broken files are refused."""

from __future__ import annotations

from pathlib import Path

from trader.adapters.strategy_loader import discover_strategies
from trader.backtest.engine import run_backtest
from trader.backtest.synthetic import gbm_bars
from trader.commands.strategy import render_strategy, render_test

PEEKING = """
from dataclasses import dataclass
import numpy as np
from trader.core.strategies import Signals


@dataclass(frozen=True)
class Peeking:
    shift: int = 1

    @property
    def name(self):
        return "peeking"

    @property
    def lookback_bars(self):
        return 5

    def parameters(self):
        return {"shift": self.shift}

    def generate(self, bars):
        rising = np.zeros(len(bars), bool)
        rising[:-1] = bars.close[1:] > bars.close[:-1]
        return Signals(entries=rising, exits=~rising)


STRATEGY = Peeking
"""


def test_the_template_is_discovered_validated_and_trades(tmp_path: Path) -> None:
    (tmp_path / "breakout_one.py").write_text(render_strategy("breakout_one"))
    (tmp_path / "test_breakout_one.py").write_text(render_test("breakout_one"))
    catalog, report = discover_strategies(tmp_path, include_entry_points=False, check_bars=600)
    assert report.problems == []
    assert [loaded.name for loaded in report.loaded] == ["breakout_one"]
    strategy_type = catalog.get("breakout_one")
    assert strategy_type.source.startswith("file ") and strategy_type.parameter("window") is not None
    assert strategy_type.parameters[0].description == "bars in the moving average"
    strategy = catalog.build("breakout_one", {"window": 30})
    assert len(run_backtest(strategy, gbm_bars(800, seed=2, volatility=0.01)).trades) > 0
    assert "sma_crossover" in catalog.names()


def test_a_peeking_broken_or_clashing_strategy_is_refused(tmp_path: Path) -> None:
    (tmp_path / "peeking.py").write_text(PEEKING)
    (tmp_path / "broken.py").write_text("import does_not_exist\n")
    (tmp_path / "empty.py").write_text("X = 1\n")
    (tmp_path / "clash.py").write_text(
        render_strategy("clash").replace('return "clash"', 'return "sma_crossover"')
    )
    catalog, report = discover_strategies(tmp_path, include_entry_points=False, check_bars=600)
    assert report.loaded == []
    reasons = {
        Path(problem.source.removeprefix("file ")).stem: problem.message for problem in report.problems
    }
    assert "look-ahead check" in reasons["peeking"]
    assert "import failed" in reasons["broken"]
    assert "no STRATEGY" in reasons["empty"]
    assert "clashes" in reasons["clash"]
    assert "peeking" not in catalog.names()
