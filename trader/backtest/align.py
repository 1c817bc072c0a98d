"""Multi-symbol alignment: keep the bar times every symbol has, so they share one time index."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trader.core.strategies.series import BarSeries


def align_series(series: Sequence[BarSeries]) -> list[BarSeries]:
    """Each series cut to the timestamps all of them share (a bar missing in one symbol drops that time)."""
    if not series:
        raise ValueError("need at least one symbol")
    common = series[0].timestamps_ns
    for other in series[1:]:
        common = np.intersect1d(common, other.timestamps_ns)
    if common.size < 2:
        raise ValueError("the symbols share fewer than two bar times")
    aligned = []
    for one in series:
        keep = np.isin(one.timestamps_ns, common)
        aligned.append(
            BarSeries(
                one.symbol,
                one.timestamps_ns[keep],
                one.open[keep],
                one.high[keep],
                one.low[keep],
                one.close[keep],
                one.volume[keep],
            )
        )
    return aligned
