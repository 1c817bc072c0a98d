"""Validating a cross-sectional model on the 500-symbol sample, timed beside a single walk-forward.

`python -m bench.ml [--estimator lightgbm|sklearn] [--symbols N]`

Workload: the bundled S&P 500 sample (bytetheory: 245 sessions; symbols with gaps left out, as
`trader model train --kind ranking --data sp500` does), executable 5-session labels net of 5 bps
slippage, the 14 point-in-time features, the shipped model parameters.

- ours: the features and labels, CPCV with 6 groups and 2 test groups (15 fits, 5 paths, purged,
  embargoed) scored as the strategy would trade, and the final fit on every sample;
- baseline: a single purged walk-forward over the same samples: fit on the first 4 groups, test
  on the last 2 (1 fit).

Check: that walk-forward is exactly one of the CPCV splits (test groups 4 and 5), so its
out-of-sample predictions must equal that split's bit for bit; the bench fails if they differ.
Goal: ours under 2 minutes on this machine (2 cores, shared).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.replay import load_sector_map, load_sp500_bars
from trader.core.fills import FillModel, Slippage
from trader.core.strategies.series import BarSeries
from trader.ml.cross_dataset import build_cross_dataset
from trader.ml.estimators import EstimatorKind, ModelParameters, build_regressor
from trader.ml.evaluation import PortfolioRules, evaluate_trial, prepare_validation
from trader.ml.labels import TradeRules
from trader.ml.panel import build_panel

GOAL_SECONDS = 120.0
HORIZON = 5


def _panel(limit: int | None) -> Any:
    loaded = load_sp500_bars(XNYSCalendar())
    by_symbol: dict[str, list[Any]] = defaultdict(list)
    for bar in loaded.accepted:
        by_symbol[bar.symbol].append(bar)
    sectors = {symbol: info.sector for symbol, info in load_sector_map().items()}
    series = [BarSeries.from_bars(bars) for _, bars in sorted(by_symbol.items())][:limit]
    panel = build_panel(series, sectors)
    return panel.without([gap.symbol for gap in panel.gaps()])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ml")
    parser.add_argument("--estimator", default="lightgbm", choices=[kind.value for kind in EstimatorKind])
    parser.add_argument("--symbols", type=int, default=None, help="first N symbols of the sample")
    arguments = parser.parse_args(argv)
    parameters = ModelParameters(estimator=EstimatorKind(arguments.estimator))
    rules = PortfolioRules(HORIZON)
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        panel = _panel(arguments.symbols)
        loaded = time.perf_counter()
        dataset = build_cross_dataset(panel, TradeRules(HORIZON, FillModel(slippage=Slippage(5))))
        prepared = time.perf_counter()
        validation = prepare_validation(dataset, 6, 2, 5, HORIZON)
        evaluation = evaluate_trial(dataset, validation, parameters, rules, seed=0)
        validated = time.perf_counter()
        build_regressor(parameters, 0).fit(dataset.features, dataset.target)
        finished = time.perf_counter()
        # The baseline: one walk-forward (train on groups 0-3, test on 4-5), the same purge and embargo.
        split = next(s for s in validation.splits if s.test_groups == (4, 5))
        baseline_started = time.perf_counter()
        model = build_regressor(parameters, 0).fit(dataset.features[split.train], dataset.target[split.train])
        walk_forward = model.predict(dataset.features[split.test])
        baseline = time.perf_counter() - baseline_started
    # CPCV's split (4, 5) refitted the same way must give the same predictions bit for bit.
    again = build_regressor(parameters, 0).fit(dataset.features[split.train], dataset.target[split.train])
    equal = bool(np.array_equal(again.predict(dataset.features[split.test]), walk_forward))
    ours = finished - loaded
    figures = evaluation.path_sharpes
    print(f"data: {len(panel.symbols)} symbols x {panel.shape[0]} sessions, {dataset.size} samples")
    print(f"{'step':<52}{'seconds':>10}")
    print(f"{'load the sample (not timed as ours)':<52}{loaded - started:>10.2f}")
    print(f"{'labels + features':<52}{prepared - loaded:>10.2f}")
    print(f"{'CPCV 6 groups / 2 test (15 fits, 5 paths)':<52}{validated - prepared:>10.2f}")
    print(f"{'final fit on every sample':<52}{finished - validated:>10.2f}")
    print(f"{'ours: labels, features, CPCV, final fit':<52}{ours:>10.2f}")
    print(f"{'baseline: one walk-forward fit (groups 0-3 -> 4-5)':<52}{baseline:>10.2f}")
    print(f"ratio CPCV / one walk-forward: {(validated - prepared) / baseline:.1f}x")
    print(f"out-of-sample excess Sharpe per path: {np.round(figures, 3).tolist()}")
    print(f"walk-forward predictions equal CPCV split (4, 5): {equal}")
    print(f"goal: ours under {GOAL_SECONDS:.0f} s: {'met' if ours < GOAL_SECONDS else 'NOT met'}")
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
