"""One configuration under combinatorial purged cross-validation, judged as the strategy it would be.

The strategy: every `horizon` sessions, buy the top-ranked share of the universe at the next open
and hold it for `horizon` sessions (so the trades of consecutive rebalances chain without
overlap). Each CPCV split fits the model on its purged, embargoed training samples and scores its
test groups; each backtest path stitches scores for every group out of sample, and gives a series
of net period returns (the mean executable net return of the picks) and a rank IC per session.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.ml.cpcv import (
    SessionIndex,
    Split,
    backtest_paths,
    combinatorial_purged_splits,
    group_bounds,
)
from trader.ml.cross_dataset import CrossSectionalDataset
from trader.ml.estimators import ModelParameters, build_regressor
from trader.ml.information import rank_ic_by_session
from trader.ml.sharpe import sharpe_ratio

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PortfolioRules:
    horizon: int
    top_fraction: float = 0.1
    min_top: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.top_fraction <= 0.5 or self.min_top < 1:
            raise ValueError("top_fraction must be in (0, 0.5] and min_top >= 1")

    def top_count(self, universe: int) -> int:
        return max(self.min_top, round(universe * self.top_fraction))


@dataclass(frozen=True, slots=True, eq=False)
class CrossValidation:
    splits: list[Split]
    paths: list[list[int]]
    sample_group: IntArray
    rebalance_sessions: IntArray  # panel rows where the strategy picks
    rebalance_slices: list[tuple[int, int]]  # sample range of each rebalance session
    benchmark: FloatArray  # buy-and-hold of the universe per rebalance period (gross)


def prepare_validation(
    dataset: CrossSectionalDataset, groups: int, test_groups: int, embargo_sessions: int, horizon: int
) -> CrossValidation:
    sessions = np.unique(dataset.session)
    start = np.searchsorted(sessions, dataset.session).astype(np.int64)
    end = np.searchsorted(sessions, dataset.end_session, side="left").astype(np.int64)
    index = SessionIndex(start, end, int(sessions.size))
    splits = combinatorial_purged_splits(index, groups, test_groups, embargo_sessions)
    bounds = group_bounds(index.sessions, groups)
    rebalance = sessions[::horizon]
    slices = [
        (
            int(np.searchsorted(dataset.session, row, "left")),
            int(np.searchsorted(dataset.session, row, "right")),
        )
        for row in rebalance
    ]
    return CrossValidation(
        splits=splits,
        paths=backtest_paths(groups, test_groups),
        sample_group=(np.searchsorted(bounds, start, side="right") - 1).astype(np.int64),
        rebalance_sessions=rebalance.astype(np.int64),
        rebalance_slices=slices,
        benchmark=_buy_and_hold(dataset.hold_return, slices),
    )


@dataclass(frozen=True, slots=True, eq=False)
class TrialEvaluation:
    """A configuration's out-of-sample record. Its edge is the excess over buy-and-hold of the
    universe: a long-only pick in a rising market earns the market's drift without any skill, so
    Sharpe ratios, the DSR and PBO are taken on net pick returns minus the universe's return."""

    parameters: ModelParameters
    path_returns: FloatArray  # (paths, periods): net return of each rebalance's picks
    path_excess: FloatArray  # (paths, periods): the same minus buy-and-hold of the universe
    ic_by_session: FloatArray  # rank IC per labelled session, averaged over the paths

    @property
    def path_sharpes(self) -> FloatArray:
        """Per-period Sharpe ratio of each path's excess returns."""
        return np.array([sharpe_ratio(path) for path in self.path_excess])

    @property
    def mean_excess(self) -> FloatArray:
        """The paths' average excess return per period: the trial's one return series."""
        return np.asarray(self.path_excess.mean(axis=0), dtype=np.float64)

    @property
    def score(self) -> float:
        """What a search maximises: the mean of the paths' excess Sharpe ratios (-inf when undefined)."""
        sharpes = self.path_sharpes
        finite = sharpes[np.isfinite(sharpes)]
        return float(finite.mean()) if finite.size else -math.inf


def _split_predictions(
    dataset: CrossSectionalDataset, validation: CrossValidation, parameters: ModelParameters, seed: int
) -> FloatArray:
    predictions = np.full((len(validation.splits), dataset.size), np.nan)
    for number, split in enumerate(validation.splits):
        if split.train.size < 2 * parameters.min_leaf_samples:
            raise ValueError(
                f"a CPCV split keeps {split.train.size} training samples after purging, fewer than "
                f"twice min_leaf_samples ({parameters.min_leaf_samples}); give more sessions or symbols"
            )
        model = build_regressor(parameters, seed)
        model.fit(dataset.features[split.train], dataset.target[split.train])
        predictions[number, split.test] = model.predict(dataset.features[split.test])
    return predictions


def _path_scores(predictions: FloatArray, validation: CrossValidation, path: list[int]) -> FloatArray:
    split_of_sample = np.asarray(path, dtype=np.int64)[validation.sample_group]
    return predictions[split_of_sample, np.arange(split_of_sample.size)]


def pick_returns(
    scores: FloatArray, outcomes: FloatArray, slices: list[tuple[int, int]], rules: PortfolioRules
) -> FloatArray:
    """Mean outcome of the top-scored samples of each slice (one rebalance session each)."""
    result = np.full(len(slices), np.nan)
    for period, (start, stop) in enumerate(slices):
        if stop <= start:
            continue
        chosen = np.argsort(-scores[start:stop], kind="stable")[: rules.top_count(stop - start)]
        result[period] = float(outcomes[start:stop][chosen].mean())
    return result


def evaluate_trial(
    dataset: CrossSectionalDataset,
    validation: CrossValidation,
    parameters: ModelParameters,
    rules: PortfolioRules,
    seed: int,
) -> TrialEvaluation:
    predictions = _split_predictions(dataset, validation, parameters, seed)
    returns, ics = [], []
    for path in validation.paths:
        scores = _path_scores(predictions, validation, path)
        returns.append(pick_returns(scores, dataset.net_return, validation.rebalance_slices, rules))
        ics.append(rank_ic_by_session(dataset.session, scores, dataset.net_return))
    path_returns = np.vstack(returns)
    return TrialEvaluation(
        parameters=parameters,
        path_returns=path_returns,
        path_excess=path_returns - validation.benchmark[None, :],
        ic_by_session=np.vstack(ics).mean(axis=0),
    )


def _buy_and_hold(hold_return: FloatArray, slices: list[tuple[int, int]]) -> FloatArray:
    """Equal weight in the whole universe over the same periods (gross; costs once, by the caller)."""
    return np.array(
        [float(hold_return[start:stop].mean()) if stop > start else math.nan for start, stop in slices]
    )


TrialCallback = Callable[[int, TrialEvaluation], None]
