"""The figures a ranking model is judged by, and its card: what `trader model show`, the model
card endpoint and the gate read. Per-period figures are per rebalance; `_annual` ones scale by
sqrt(252 / horizon)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from trader.core.strategies.series import from_epoch_nanoseconds
from trader.ml.costs import buy_prices, net_round_trip_returns
from trader.ml.cpcv import path_count
from trader.ml.cross_dataset import CrossSectionalDataset
from trader.ml.cross_features import WARMUP_SESSIONS
from trader.ml.evaluation import CrossValidation, TrialEvaluation
from trader.ml.gate import GateFigures
from trader.ml.information import summarize_ic
from trader.ml.overfitting import probability_of_backtest_overfitting
from trader.ml.panel import Panel
from trader.ml.sharpe import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    return_moments,
    sharpe_ratio,
)

if TYPE_CHECKING:
    from trader.ml.ranking_training import RankingConfig

FloatArray = NDArray[np.float64]
SESSIONS_A_YEAR = 252
PBO_BLOCKS = 16


def _annual(per_period: float, horizon: int) -> float:
    return per_period * math.sqrt(SESSIONS_A_YEAR / horizon) if math.isfinite(per_period) else math.nan


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _round_trip_cost(config: RankingConfig) -> float:
    """The cost of one round trip at an unchanged price, as a fraction (negative)."""
    unit = np.array([100.0])
    return float(
        net_round_trip_returns(config.fill_model, buy_prices(config.fill_model, unit), unit, config.notional)[
            0
        ]
    )


def _total(returns: FloatArray) -> float:
    finite = returns[np.isfinite(returns)]
    return float(np.prod(1.0 + finite) - 1.0) if finite.size else math.nan


def _median(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else math.nan


def validation_figures(
    validation: CrossValidation,
    config: RankingConfig,
    trials: list[TrialEvaluation],
    selected: int,
    champion: TrialEvaluation | None,
) -> tuple[GateFigures, dict[str, Any]]:
    chosen = trials[selected]
    excess = chosen.mean_excess
    trial_sharpes = [sharpe_ratio(trial.mean_excess) for trial in trials]
    deflated = deflated_sharpe_ratio(return_moments(excess), trial_sharpes, trials=len(trials))
    overfitting = probability_of_backtest_overfitting(
        np.column_stack([trial.mean_excess for trial in trials]), PBO_BLOCKS
    )
    held = validation.benchmark
    median = _median(chosen.path_sharpes)
    absolute = np.array([sharpe_ratio(path) for path in chosen.path_returns])
    champion_median = None if champion is None else _median(champion.path_sharpes)
    ic = summarize_ic(chosen.ic_by_session)
    net = chosen.path_returns.mean(axis=0)
    finite_net = net[np.isfinite(net)]
    numbers: dict[str, Any] = {
        "median_excess_sharpe": _number(median),
        "median_excess_sharpe_annual": _number(_annual(median, config.horizon)),
        "path_excess_sharpes": [_number(value) for value in chosen.path_sharpes],
        "median_sharpe": _number(_median(absolute)),
        "median_sharpe_annual": _number(_annual(_median(absolute), config.horizon)),
        "deflated_sharpe": _number(deflated.value),
        # The same Sharpe ratio judged as if it were the only trial: what the search alone would claim.
        "probabilistic_sharpe": _number(probabilistic_sharpe_ratio(return_moments(excess), 0.0)),
        "dsr_benchmark_sharpe": _number(deflated.benchmark),
        "trial_sharpe_variance": _number(deflated.trial_sharpe_variance),
        "pbo": _number(overfitting.probability),
        "pbo_splits": overfitting.splits,
        "ic_mean": _number(ic.mean),
        "ic_std": _number(ic.deviation),
        "ic_information_ratio": _number(ic.information_ratio),
        "ic_positive_share": _number(ic.positive_share),
        "ic_sessions": ic.sessions,
        "mean_excess_return": _number(float(np.nanmean(excess)) if np.isfinite(excess).any() else math.nan),
        "excess_return_std": _number(
            float(np.nanstd(excess, ddof=1)) if np.isfinite(excess).sum() > 1 else math.nan
        ),
        "mean_period_return": _number(float(finite_net.mean()) if finite_net.size else math.nan),
        "period_return_std": _number(float(finite_net.std(ddof=1)) if finite_net.size > 1 else math.nan),
        "periods": int(net.size),
        "total_return_median_path": _number(
            _median(np.array([_total(path) for path in chosen.path_returns]))
        ),
        "buy_and_hold_sharpe": _number(sharpe_ratio(held)),
        "buy_and_hold_sharpe_annual": _number(_annual(sharpe_ratio(held), config.horizon)),
        "buy_and_hold_mean_period_return": _number(
            float(np.nanmean(held)) if np.isfinite(held).any() else math.nan
        ),
        "buy_and_hold_total_return": _number((1.0 + _total(held)) * (1.0 + _round_trip_cost(config)) - 1.0),
        "champion_median_excess_sharpe": None if champion_median is None else _number(champion_median),
    }
    figures = GateFigures(
        deflated_sharpe=deflated.value,
        overfitting_probability=overfitting.probability,
        median_sharpe=median,
        champion_sharpe=champion_median,
    )
    return figures, numbers


def training_card(
    panel: Panel,
    dataset: CrossSectionalDataset,
    validation: CrossValidation,
    config: RankingConfig,
    trials: list[TrialEvaluation],
    selected: int,
    numbers: dict[str, Any],
) -> dict[str, Any]:
    fill = config.fill_model
    return {
        "kind": "cross_sectional",
        "data": {
            "symbols": len(panel.symbols),
            "sessions": int(panel.sessions_ns.size),
            "first_session": from_epoch_nanoseconds(int(panel.sessions_ns[0])).isoformat(),
            "last_session": from_epoch_nanoseconds(int(panel.sessions_ns[-1])).isoformat(),
            "samples": dataset.size,
            "labelled_sessions": dataset.labelled_sessions(),
            "warmup_sessions": WARMUP_SESSIONS,
        },
        "features": list(dataset.feature_names),
        "labels": {
            "horizon": config.horizon,
            "entry": "next open after the signal",
            "exit": f"open after {config.horizon} sessions, or the stop/target first (backtester's rules)",
            "stop_loss": None if config.stops.stop_loss is None else str(config.stops.stop_loss),
            "take_profit": None if config.stops.take_profit is None else str(config.stops.take_profit),
            "trailing_stop": None if config.stops.trailing_stop is None else str(config.stops.trailing_stop),
        },
        "costs": {
            "slippage_bps": str(fill.slippage.basis_points),
            "commission_per_share": str(fill.commission.per_share),
            "commission_rate": str(fill.commission.rate),
            "commission_minimum": str(fill.commission.minimum),
            "notional": config.notional,
            "round_trip_cost": _number(_round_trip_cost(config)),
        },
        "portfolio": {"top_fraction": config.top_fraction, "rebalance_every_sessions": config.horizon},
        "validation": {
            "method": "CPCV",
            "groups": config.groups,
            "test_groups": config.test_groups,
            "splits": len(validation.splits),
            "paths": path_count(config.groups, config.test_groups),
            "embargo_sessions": config.embargo_sessions,
            "purged_mean": float(np.mean([split.purged for split in validation.splits])),
            "embargoed_mean": float(np.mean([split.embargoed for split in validation.splits])),
        },
        "search": {
            "trials": len(trials),
            "selected": selected,
            "seed": config.seed,
            "results": [
                {"parameters": trial.parameters.as_dict(), "mean_path_sharpe": _number(trial.score)}
                for trial in trials
            ],
        },
        "parameters": trials[selected].parameters.as_dict(),
        "figures": numbers,
    }
