"""The newest rows of many `market_data` series at once: one index probe per series, many per statement.

Strategy windows, the collector's newest stored bar per series and the risk manager's marks all
ask the same question of many symbols at once: the newest N rows of one series, optionally up to
a bound. Each series is its own `ORDER BY timestamp DESC LIMIT n` range read of the
(symbol, timestamp) index, so a long history costs no more than a short one; the parts are joined
with UNION ALL, at most `PROBES_PER_STATEMENT` per statement (SQLite allows 500 compound terms).

The statement is SQL text built once per shape (columns, filters, number of parts) and cached, and
the engine's compiled cache then keeps its compiled form per dialect: building 200 SQLAlchemy
selects and their cache keys on every call cost more than the query itself. The result columns
carry the table's types, so SQLite's text timestamps and the `Amount` / `UTCDateTime` columns
convert exactly as they do through any other query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Row, bindparam, column, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from trader.adapters.db.tables import market_data

PROBES_PER_STATEMENT = 200
# Statements kept per reader shape: full chunks plus the few remainders a caller actually sees.
_STATEMENTS_CACHED = 64


class Bound(Enum):
    """How a probe's `bound` limits its rows: none, strictly before it, or up to and including it."""

    NONE = ""
    BEFORE = "<"
    THROUGH = "<="


@dataclass(frozen=True, slots=True)
class Probe:
    """One series to read: the newest `limit` rows of `symbol` (of `timeframe`, when the reader
    filters on it) whose timestamp is within `bound` (when the reader has one)."""

    symbol: str
    limit: int
    bound: datetime | None = None
    timeframe: str | None = None


class NewestRows:
    """Reads the newest rows of many series of `market_data`, newest first per probe.

    The shape (columns, bound, timeframe filter) is fixed per reader, so keep readers as module
    constants: their statements are cached with them.
    """

    def __init__(
        self, columns: Sequence[str], *, bound: Bound = Bound.NONE, by_timeframe: bool = False
    ) -> None:
        unknown = [name for name in columns if name not in market_data.c]
        if unknown or not columns:
            raise ValueError(f"not market_data columns: {unknown or 'none given'}")
        self.columns = tuple(columns)
        self.bound = bound
        self.by_timeframe = by_timeframe
        self._statement = lru_cache(maxsize=_STATEMENTS_CACHED)(self._build)

    async def read(self, connection: AsyncConnection, probes: Sequence[Probe]) -> list[list[Row[Any]]]:
        """For each probe, its rows newest first (attributes named after the columns)."""
        found: list[list[Row[Any]]] = [[] for _ in probes]
        for start in range(0, len(probes), PROBES_PER_STATEMENT):
            chunk = probes[start : start + PROBES_PER_STATEMENT]
            result = await connection.execute(self._statement(len(chunk)), self._parameters(chunk))
            # The statement orders by (probe, timestamp DESC), so rows arrive grouped, newest first.
            for row in result:
                found[start + row.probe].append(row)
        return found

    def _parameters(self, chunk: Sequence[Probe]) -> dict[str, Any]:
        parameters: dict[str, Any] = {}
        for index, probe in enumerate(chunk):
            if probe.limit < 0:
                raise ValueError(f"a negative limit reads nothing sensible: {probe!r}")
            parameters[f"symbol_{index}"] = probe.symbol
            parameters[f"limit_{index}"] = probe.limit
            if self.bound is not Bound.NONE:
                if probe.bound is None:
                    raise ValueError(f"this reader needs a bound on every probe: {probe!r}")
                parameters[f"bound_{index}"] = probe.bound
            if self.by_timeframe:
                if probe.timeframe is None:
                    raise ValueError(f"this reader needs a timeframe on every probe: {probe!r}")
                parameters[f"timeframe_{index}"] = probe.timeframe
        return parameters

    def _build(self, parts: int) -> TextualSelect:
        # The timestamp orders each probe's rows, so it is always read, first.
        names = tuple(dict.fromkeys(("timestamp", *self.columns)))
        selected = ", ".join(names)
        statement: TextClause = text(
            " UNION ALL ".join(self._part(index, selected) for index in range(parts))
            + " ORDER BY probe, timestamp DESC"
        ).bindparams(*(bind for index in range(parts) for bind in self._binds(index)))
        return statement.columns(
            column("probe", Integer()), *(column(name, market_data.c[name].type) for name in names)
        )

    def _part(self, index: int, selected: str) -> str:
        conditions = [f"symbol = :symbol_{index}"]
        if self.by_timeframe:
            conditions.append(f"timeframe = :timeframe_{index}")
        if self.bound is not Bound.NONE:
            conditions.append(f"timestamp {self.bound.value} :bound_{index}")
        # Every name spliced in is a market_data column checked in __init__ or a loop index.
        return (
            f"SELECT {index} AS probe, {selected} FROM ("  # noqa: S608
            f"SELECT {selected} FROM market_data WHERE {' AND '.join(conditions)} "
            f"ORDER BY timestamp DESC LIMIT :limit_{index}) AS newest_{index}"
        )

    def _binds(self, index: int) -> list[Any]:
        binds = [
            bindparam(f"symbol_{index}", type_=market_data.c.symbol.type),
            bindparam(f"limit_{index}", type_=Integer()),
        ]
        if self.bound is not Bound.NONE:
            binds.append(bindparam(f"bound_{index}", type_=market_data.c.timestamp.type))
        if self.by_timeframe:
            binds.append(bindparam(f"timeframe_{index}", type_=market_data.c.timeframe.type))
        return binds
