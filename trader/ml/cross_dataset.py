"""Samples of a cross-sectional model: one per (session, symbol) past the warm-up with a known label.

Each sample carries its features at the session's close, the executable net return of the trade
a signal there would have made (`trader.ml.labels.trade_labels`), that trade's gross open-to-open
return (for buy-and-hold beside it), and the sessions where it starts and where its label ends
(for purging). The model learns the sample's percentile rank among the session's net returns: the
order matters to a ranking strategy, and a rank is immune to the odd split-sized outlier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.ml.cross_features import WARMUP_SESSIONS, compute_cross_features
from trader.ml.information import average_ranks
from trader.ml.labels import TradeRules, trade_labels
from trader.ml.panel import Panel

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class CrossSectionalDataset:
    feature_names: tuple[str, ...]
    features: FloatArray  # (samples, features)
    target: FloatArray  # percentile rank of the net return within its session, in (0, 1]
    net_return: FloatArray
    hold_return: FloatArray  # open(t+1) -> open(t+horizon+1), no costs, no stops
    session: IntArray  # panel row of the signal
    symbol: IntArray  # panel column
    end_session: IntArray  # panel row where the label ends
    sessions_ns: IntArray
    symbols: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(self.target.size)

    def labelled_sessions(self) -> int:
        return int(np.unique(self.session).size)


def _session_percentiles(session: IntArray, values: FloatArray) -> FloatArray:
    result = np.empty(values.size)
    order = np.argsort(session, kind="stable")
    cuts = np.flatnonzero(np.diff(session[order])) + 1
    for part in np.split(order, cuts):
        result[part] = average_ranks(values[part]) / part.size
    return result


def label_grid(panel: Panel, rules: TradeRules) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """Net return, gross hold return and label-end row per (session, symbol); NaN / -1 where none."""
    shape = panel.shape
    net = np.full(shape, np.nan)
    hold = np.full(shape, np.nan)
    end_row = np.full(shape, -1, dtype=np.int64)
    horizon = rules.horizon
    for column in range(shape[1]):
        rows, series = panel.column_series(column)
        labels = trade_labels(series, rules)
        known = labels.exit_bar >= 0
        net[rows[known], column] = labels.net_return[known]
        end_row[rows[known], column] = rows[labels.exit_bar[known]]
        count = len(series) - horizon - 1
        if count > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                hold[rows[:count], column] = series.open[horizon + 1 :] / series.open[1 : count + 1] - 1.0
    return net, hold, end_row


def build_cross_dataset(panel: Panel, rules: TradeRules) -> CrossSectionalDataset:
    cube = compute_cross_features(panel)
    net, hold, end_row = label_grid(panel, rules)
    present = panel.present()
    age = np.cumsum(present, axis=0)  # sessions of history each symbol has at each row
    usable = present & (age >= WARMUP_SESSIONS) & np.isfinite(net)
    rows, columns = np.nonzero(usable)
    net_return = net[rows, columns]
    session = rows.astype(np.int64)
    return CrossSectionalDataset(
        feature_names=cube.names,
        features=np.ascontiguousarray(cube.values[rows, columns, :]),
        target=_session_percentiles(session, net_return) if session.size else net_return,
        net_return=net_return,
        hold_return=hold[rows, columns],
        session=session,
        symbol=columns.astype(np.int64),
        end_session=end_row[rows, columns],
        sessions_ns=panel.sessions_ns,
        symbols=panel.symbols,
    )
