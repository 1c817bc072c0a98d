"""Parameter search on a real (local) Dask cluster gives the same ranking as the inline run."""

from __future__ import annotations

import distributed
import pytest

from trader.backtest.optimize import cluster_executor, grid, search
from trader.backtest.synthetic import gbm_bars


def test_a_dask_cluster_runs_the_same_search() -> None:
    series = gbm_bars(4000, seed=7)
    candidates = grid({"fast_window": [5, 10, 15], "slow_window": [30, 50]})
    inline = search("sma_crossover", candidates, series, processes=1)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        cluster_executor(cluster.scheduler_address) as executor,
    ):
        clustered = search("sma_crossover", candidates, series, executor=executor)
    assert [row.parameters for row in clustered.rows] == [row.parameters for row in inline.rows]
    assert [row.metrics for row in clustered.rows] == [row.metrics for row in inline.rows]


def test_an_unreachable_scheduler_is_said_plainly() -> None:
    with (
        pytest.raises(ValueError, match="cannot reach the Dask scheduler"),
        cluster_executor("tcp://127.0.0.1:9", connect_timeout_seconds=1),
    ):
        pass
