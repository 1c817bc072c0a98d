"""The pure statistics of model validation against published worked examples and hand-made cases:
deflated Sharpe ratio, probability of backtest overfitting, CPCV splits and paths, rank IC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from trader.ml.cpcv import (
    backtest_paths,
    combinatorial_purged_splits,
    index_sessions,
    path_count,
)
from trader.ml.information import rank_correlation, rank_ic_by_session, summarize_ic
from trader.ml.overfitting import probability_of_backtest_overfitting
from trader.ml.sharpe import (
    ReturnMoments,
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    probabilistic_sharpe_ratio,
    return_moments,
    sharpe_ratio,
)

# Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: the best of
# N = 100 trials has an annualised SR of 2.5 over T = 1250 daily returns, skewness -3, kurtosis
# 10, and the trials' annualised SRs have variance 0.5. The paper gets SR0 = 0.1132 (daily) and
# DSR = 0.9004.
DAYS_A_YEAR = 250


def test_the_deflated_sharpe_ratio_reproduces_the_papers_numerical_example() -> None:
    daily_variance = 0.5 / DAYS_A_YEAR
    benchmark = expected_maximum_sharpe(100, daily_variance)
    assert benchmark == pytest.approx(0.1132, abs=5e-5)
    selected = ReturnMoments(2.5 / math.sqrt(DAYS_A_YEAR), 1250, -3.0, 10.0)
    assert probabilistic_sharpe_ratio(selected, benchmark) == pytest.approx(0.9004, abs=5e-4)
    # The same figure through the trials themselves: 100 Sharpe ratios with exactly that variance.
    raw = np.random.default_rng(7).standard_normal(100)
    trials = (raw - raw.mean()) / raw.std(ddof=1) * math.sqrt(daily_variance)
    deflated = deflated_sharpe_ratio(selected, list(trials))
    assert deflated.trials == 100
    assert deflated.benchmark == pytest.approx(benchmark, rel=1e-9)
    assert deflated.value == pytest.approx(0.9004, abs=5e-4)


def test_more_trials_deflate_the_same_sharpe_ratio_more() -> None:
    selected = ReturnMoments(0.15, 500, 0.0, 3.0)
    figures = [deflated_sharpe_ratio(selected, [0.05, -0.05, 0.1], trials=n).value for n in (3, 30, 300)]
    assert figures[0] > figures[1] > figures[2]
    # With one trial there is nothing to deflate: the DSR is the PSR against zero.
    assert deflated_sharpe_ratio(selected, [0.15]).value == pytest.approx(
        probabilistic_sharpe_ratio(selected, 0.0)
    )


def test_return_moments_of_a_normal_sample_are_normal() -> None:
    returns = np.random.default_rng(1).normal(0.001, 0.01, 200_000)
    moments = return_moments(returns)
    assert moments.sharpe == pytest.approx(0.1, abs=0.01)
    assert moments.skewness == pytest.approx(0.0, abs=0.03)
    assert moments.kurtosis == pytest.approx(3.0, abs=0.05)
    assert math.isnan(sharpe_ratio(np.array([0.01])))
    assert math.isnan(sharpe_ratio(np.array([0.01, 0.01, 0.01])))


def test_pbo_of_a_hand_made_reversal_is_one() -> None:
    # Two blocks of two periods; trial A wins the first block and loses the second, B the reverse.
    # Split 1: A is best in block 0 and worst of two in block 1 -> rank 1/3, logit ln(1/2) <= 0.
    # Split 2: B is best in block 1 and worst in block 0 -> the same. PBO = 2/2.
    returns = np.array([[0.01, 0.00], [0.03, 0.01], [-0.02, 0.01], [0.00, 0.02]])
    estimate = probability_of_backtest_overfitting(returns, blocks=2)
    assert estimate.splits == 2
    assert estimate.probability == 1.0
    assert estimate.logits == pytest.approx((math.log(0.5), math.log(0.5)))


def test_pbo_of_a_persistent_winner_is_zero_and_of_noise_about_a_half() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.01, (480, 40))
    skilled = noise.copy()
    skilled[:, 7] += 0.004  # a real edge: trial 7 is best in and out of sample
    assert probability_of_backtest_overfitting(skilled, blocks=8).probability == 0.0
    random = probability_of_backtest_overfitting(noise, blocks=8)
    assert random.splits == math.comb(8, 4)
    assert 0.3 <= random.probability <= 0.8
    assert math.isnan(probability_of_backtest_overfitting(noise[:, :1]).probability)
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(noise, blocks=5)


def test_cpcv_with_six_groups_and_two_test_groups_gives_fifteen_splits_and_five_paths() -> None:
    sessions = np.arange(60, dtype=np.int64) * 10
    index = index_sessions(sessions, sessions)  # labels end where they start: nothing to purge
    splits = combinatorial_purged_splits(index, groups=6, test_groups=2)
    assert len(splits) == 15
    assert path_count(6, 2) == 5
    paths = backtest_paths(6, 2)
    assert len(paths) == 5
    for path in paths:
        # Each path tests every group once, each time in a split that has that group in its test.
        assert all(group in splits[split].test_groups for group, split in enumerate(path))
    # Every (group, split) pair with the group under test is used by exactly one path.
    used = sorted((group, split) for path in paths for group, split in enumerate(path))
    expected = sorted((g, s) for s, split in enumerate(splits) for g in split.test_groups)
    assert used == expected
    for split in splits:
        assert np.intersect1d(split.train, split.test).size == 0
        assert split.train.size + split.test.size == 60


def test_cpcv_purges_overlapping_labels_and_embargoes_the_sessions_after_a_test_group() -> None:
    starts = np.arange(60, dtype=np.int64)
    ends = starts + 3  # each label ends three sessions later
    index = index_sessions(starts, ends)
    splits = combinatorial_purged_splits(index, groups=6, test_groups=2, embargo_sessions=2)
    split = next(s for s in splits if s.test_groups == (1, 4))
    test_sessions = set(split.test.tolist())
    assert test_sessions == set(range(10, 20)) | set(range(40, 50))
    train = set(split.train.tolist())
    # Before group 1: sessions 7..9 have labels reaching session 10 or later -> purged.
    assert {7, 8, 9}.isdisjoint(train) and 6 in train
    # After group 1 (labels reach 22): sessions 20..22 purged, 23..24 embargoed, 25 kept.
    assert {20, 21, 22, 23, 24}.isdisjoint(train) and 25 in train
    for sample in split.train:
        for test in split.test:
            assert not (starts[sample] <= ends[test] and ends[sample] >= starts[test])
    assert split.purged == 3 + 3 + 3 + 3 and split.embargoed == 4


def test_rank_ic_equals_spearman_per_session_with_ties() -> None:
    rng = np.random.default_rng(5)
    sessions = np.repeat(np.arange(4), 25).astype(np.int64)
    scores = np.round(rng.normal(size=100), 1)  # rounding makes ties
    outcomes = scores * 0.3 + rng.normal(size=100)
    ics = rank_ic_by_session(sessions, scores, outcomes)
    expected = [spearmanr(scores[sessions == s], outcomes[sessions == s]).statistic for s in range(4)]
    assert ics == pytest.approx(expected, rel=1e-12)
    summary = summarize_ic(ics)
    assert summary.sessions == 4 and summary.mean == pytest.approx(float(np.mean(expected)))
    assert math.isnan(rank_correlation(np.array([1.0, 2.0]), np.array([1.0, 2.0])))
