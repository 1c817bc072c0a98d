"""`trader strategy`: write a new user strategy (documented template and its test), list the types."""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="User strategies.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")

TEMPLATE = '''"""{title}: a user strategy for full-ai-trader.

Discovered at start from the strategies folder (STRATEGIES_DIR, default ./strategies). Before it
may trade it must pass the look-ahead check: its signal at bar t may depend on bars[0..t] only.

Rules of the interface (trader.core.strategies.Strategy):
- a frozen dataclass; every field is a parameter (int, float, bool or str) with a default;
- `name` is the type name used in configurations ("strategy_type");
- `lookback_bars` is how many bars a live evaluation passes in (enough for the last signal);
- `generate(bars)` returns entries/exits, one boolean per bar, computed from columns of
  `bars` (open, high, low, close, volume: float64 numpy arrays, oldest first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trader.core.indicators import sma
from trader.core.strategies import BarSeries, Signals
from trader.core.strategies.crossing import cross_above, cross_below


@dataclass(frozen=True, slots=True)
class {class_name}:
    """Long when the close crosses above its `window`-bar SMA; flat when it crosses below."""

    window: int = 20

    PARAMETER_DOCS = {{"window": "bars in the moving average"}}

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {{self.window}}")

    @property
    def name(self) -> str:
        return "{name}"

    @property
    def lookback_bars(self) -> int:
        return self.window + 1

    def parameters(self) -> Mapping[str, object]:
        return {{"window": self.window}}

    def generate(self, bars: BarSeries) -> Signals:
        average = sma(bars.close, self.window)
        return Signals(entries=cross_above(bars.close, average), exits=cross_below(bars.close, average))


STRATEGY = {class_name}
'''

TEST_TEMPLATE = '''"""Tests of the {name} strategy: it loads, passes the look-ahead check, and trades."""

from __future__ import annotations

from pathlib import Path

from trader.adapters.strategy_loader import discover_strategies
from trader.backtest.engine import run_backtest
from trader.backtest.synthetic import gbm_bars
from trader.core.lookahead import check_lookahead

STRATEGIES_DIR = Path(__file__).resolve().parent


def test_{name}_is_discovered_and_passes_the_lookahead_check() -> None:
    catalog, report = discover_strategies(STRATEGIES_DIR, include_entry_points=False)
    assert "{name}" in catalog.names(), report.problems
    strategy = catalog.build("{name}", {{}})
    bars = gbm_bars(1_000, seed=1, volatility=0.015, bar_seconds=86_400)
    assert check_lookahead(strategy, bars).passed
    result = run_backtest(strategy, bars)
    assert len(result.trades) > 0
'''


def class_name_of(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def render_strategy(name: str) -> str:
    return TEMPLATE.format(name=name, class_name=class_name_of(name), title=class_name_of(name))


def render_test(name: str) -> str:
    return TEST_TEMPLATE.format(name=name)


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="snake_case type name, e.g. my_breakout")],
    directory: Annotated[Path, typer.Option("--dir", help="strategies folder")] = Path("strategies"),
    force: Annotated[bool, typer.Option(help="overwrite existing files")] = False,
) -> None:
    """Write strategies/NAME.py (a documented template) and strategies/test_NAME.py."""
    if not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name):
        errors.print(f"[red]error:[/red] {name!r} is not a snake_case name (a-z, 0-9, _; 2-41 characters)")
        raise typer.Exit(2)
    source, test = directory / f"{name}.py", directory / f"test_{name}.py"
    existing = [path for path in (source, test) if path.exists()]
    if existing and not force:
        errors.print(f"[red]error:[/red] {', '.join(map(str, existing))} exists; pass --force to overwrite")
        raise typer.Exit(1)
    directory.mkdir(parents=True, exist_ok=True)
    source.write_text(render_strategy(name), encoding="utf-8")
    test.write_text(render_test(name), encoding="utf-8")
    console.print(f"wrote {source} and {test}; run: pytest {test}")


@app.command("list")
def list_types(
    directory: Annotated[Path, typer.Option("--dir", help="strategies folder")] = Path("strategies"),
) -> None:
    """Every strategy type (built-in and user) with its parameters, and refused user strategies."""
    from trader.adapters.strategy_loader import discover_strategies

    catalog, report = discover_strategies(directory)
    table = Table(title="strategy types")
    for column in ("type", "source", "parameters", "summary"):
        table.add_column(column)
    for strategy_type in catalog.types():
        parameters = ", ".join(
            spec.name if spec.required else f"{spec.name}={spec.default!r}"
            for spec in strategy_type.parameters
        )
        table.add_row(strategy_type.name, strategy_type.source, parameters, strategy_type.summary)
    console.print(table)
    for problem in report.problems:
        errors.print(f"[yellow]refused[/yellow] {problem.source}: {problem.message}")
