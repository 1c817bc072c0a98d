"""Combinatorial purged cross-validation (CPCV) with an embargo, and its backtest paths.

The sessions of the data are cut into `groups` contiguous groups; every choice of `test_groups`
of them is one split (C(N, k) splits), trained on the rest. A sample is (symbol, session) with a
label that ends some sessions later, so two cleanings keep the test honest:

- purging: a training sample whose label span [start, end] touches a test group's span (from its
  first session to the end of its last label) is dropped;
- embargo: a training sample that starts within `embargo_sessions` after that span is dropped too,
  because features computed there (rolling windows) still overlap the test period.

Each group is tested in C(N-1, k-1) splits, which stitch into k * C(N, k) / N complete
out-of-sample paths over the whole history (López de Prado, "Advances in Financial Machine
Learning", 2018, ch. 12: N = 6, k = 2 gives 15 splits and 5 paths).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Split:
    test_groups: tuple[int, ...]
    train: IntArray  # sample indices
    test: IntArray
    purged: int
    embargoed: int


@dataclass(frozen=True, slots=True, eq=False)
class SessionIndex:
    """Samples placed on the sessions of the data: start and label-end session per sample."""

    start: IntArray
    end: IntArray  # the first session at or after the label's end; `sessions` when past the data
    sessions: int


def index_sessions(start_ns: IntArray, end_ns: IntArray) -> SessionIndex:
    unique, start = np.unique(start_ns, return_inverse=True)
    end = np.searchsorted(unique, end_ns, side="left").astype(np.int64)
    return SessionIndex(start.astype(np.int64), end, int(unique.size))


def group_bounds(sessions: int, groups: int) -> IntArray:
    """Session index where each group starts, plus the end: `groups + 1` values."""
    if groups < 2:
        raise ValueError(f"CPCV needs at least 2 groups, got {groups}")
    if sessions < groups:
        raise ValueError(f"{sessions} sessions cannot make {groups} groups")
    return np.linspace(0, sessions, groups + 1).astype(np.int64)


def path_count(groups: int, test_groups: int) -> int:
    return test_groups * math.comb(groups, test_groups) // groups


def combinatorial_purged_splits(
    index: SessionIndex, groups: int = 6, test_groups: int = 2, embargo_sessions: int = 0
) -> list[Split]:
    if not 1 <= test_groups < groups:
        raise ValueError(f"need 1 <= test_groups < groups, got {test_groups} of {groups}")
    if embargo_sessions < 0:
        raise ValueError(f"embargo must be >= 0 sessions, got {embargo_sessions}")
    bounds = group_bounds(index.sessions, groups)
    group_of = np.searchsorted(bounds, index.start, side="right") - 1
    splits = []
    for chosen in itertools.combinations(range(groups), test_groups):
        in_test = np.isin(group_of, chosen)
        dropped_purge = np.zeros(index.start.size, dtype=np.bool_)
        dropped_embargo = np.zeros(index.start.size, dtype=np.bool_)
        for group in chosen:
            members = group_of == group
            first = int(bounds[group])
            last_label = int(index.end[members].max()) if members.any() else int(bounds[group + 1]) - 1
            dropped_purge |= (index.start <= last_label) & (index.end >= first)
            dropped_embargo |= (index.start > last_label) & (index.start <= last_label + embargo_sessions)
        train_mask = ~in_test & ~dropped_purge & ~dropped_embargo
        splits.append(
            Split(
                test_groups=chosen,
                train=np.flatnonzero(train_mask).astype(np.int64),
                test=np.flatnonzero(in_test).astype(np.int64),
                purged=int((~in_test & dropped_purge).sum()),
                embargoed=int((~in_test & ~dropped_purge & dropped_embargo).sum()),
            )
        )
    return splits


def backtest_paths(groups: int, test_groups: int) -> list[list[int]]:
    """For each path, for each group, the split (index into the combinations) that tests it there.

    Group g's j-th appearance among the splits (in combination order) belongs to path j.
    """
    combos = list(itertools.combinations(range(groups), test_groups))
    appearances: list[list[int]] = [[] for _ in range(groups)]
    for split_index, chosen in enumerate(combos):
        for group in chosen:
            appearances[group].append(split_index)
    paths = path_count(groups, test_groups)
    return [[appearances[group][path] for group in range(groups)] for path in range(paths)]
