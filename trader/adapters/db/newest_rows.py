"""The newest rows of many `market_data` series at once: one index probe per series, many per statement.

Strategy windows, the collector's newest stored bar per series and the risk manager's marks all
ask the same question of many symbols at once: the newest N rows of one series, optionally up to
a bound. Each series is its own `ORDER BY timestamp DESC LIMIT n` range read of the
(symbol, timestamp) index, so a long history costs no more than a short one.

On PostgreSQL one statement reads every probe: the probes go in as arrays, and a LATERAL
subquery per probe does the index read. SQLite has no LATERAL, so there the per-probe reads are
joined with UNION ALL, at most `PROBES_PER_STATEMENT` per statement (it allows 500 compound terms).

The statement is SQL text built once per shape (columns, filters, dialect, and on SQLite the
number of parts) and cached; the engine's compiled cache keeps its compiled form. Building 200
SQLAlchemy selects and their cache keys on every call cost more than the query itself. The
result columns carry the table's types, so SQLite's text timestamps and the `Amount` /
`UTCDateTime` columns convert exactly as they do through any other query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Row, bindparam, column, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import TextualSelect
from sqlalchemy.types import TypeEngine

from trader.adapters.db.tables import market_data

PROBES_PER_STATEMENT = 200
# Statements kept per reader shape: full chunks plus the few remainders a caller actually sees.
_STATEMENTS_CACHED = 64
_POSTGRESQL = "postgresql"


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
    constants: their statements are cached with them. A row is the probe's position, `timestamp`
    (which orders the rows, so it is always read) and then the other columns in the order given;
    each also by name (`row.close_price`).
    """

    def __init__(
        self, columns: Sequence[str], *, bound: Bound = Bound.NONE, by_timeframe: bool = False
    ) -> None:
        unknown = [name for name in columns if name not in market_data.c]
        if unknown or not columns:
            raise ValueError(f"not market_data columns: {unknown or 'none given'}")
        self.bound = bound
        self.by_timeframe = by_timeframe
        self._selected = ("timestamp", *(name for name in columns if name != "timestamp"))
        self._fields = self._probe_fields()
        self._statement = lru_cache(maxsize=_STATEMENTS_CACHED)(self._build)

    async def read(self, connection: AsyncConnection, probes: Sequence[Probe]) -> list[list[Row[Any]]]:
        """For each probe, its rows newest first."""
        for probe in probes:
            self._check(probe)
        found: list[list[Row[Any]]] = [[] for _ in probes]
        if not probes:
            return found
        per_statement = len(probes) if connection.dialect.name == _POSTGRESQL else PROBES_PER_STATEMENT
        for start in range(0, len(probes), per_statement):
            chunk = probes[start : start + per_statement]
            statement, parameters = self._prepared(connection.dialect.name, chunk)
            # Ordered by (probe, timestamp DESC): each probe's rows arrive together, newest first.
            for row in await connection.execute(statement, parameters):
                found[start + row[0]].append(row)
        return found

    def _check(self, probe: Probe) -> None:
        if probe.limit < 0:
            raise ValueError(f"a negative limit reads nothing sensible: {probe!r}")
        if self.bound is not Bound.NONE and probe.bound is None:
            raise ValueError(f"this reader needs a bound on every probe: {probe!r}")
        if self.by_timeframe and probe.timeframe is None:
            raise ValueError(f"this reader needs a timeframe on every probe: {probe!r}")

    def _prepared(self, dialect: str, chunk: Sequence[Probe]) -> tuple[TextualSelect, dict[str, Any]]:
        if dialect == _POSTGRESQL:
            return self._statement(dialect, 0), self._arrays(chunk)
        return self._statement(dialect, len(chunk)), self._numbered(chunk)

    def _probe_fields(self) -> list[tuple[str, TypeEngine[Any]]]:
        """The probe's values each statement binds, with the column types they compare with."""
        fields: list[tuple[str, TypeEngine[Any]]] = [
            ("symbol", market_data.c.symbol.type),
            ("limit", Integer()),
        ]
        if self.bound is not Bound.NONE:
            fields.append(("bound", market_data.c.timestamp.type))
        if self.by_timeframe:
            fields.append(("timeframe", market_data.c.timeframe.type))
        return fields

    def _arrays(self, chunk: Sequence[Probe]) -> dict[str, Any]:
        return {name: [getattr(probe, name) for probe in chunk] for name, _ in self._fields}

    def _numbered(self, chunk: Sequence[Probe]) -> dict[str, Any]:
        return {
            f"{name}_{index}": getattr(probe, name)
            for index, probe in enumerate(chunk)
            for name, _ in self._fields
        }

    def _conditions(self, probe: str) -> str:
        """WHERE terms of one probe's read; `probe` names where its values are."""
        conditions = [f"market_data.symbol = {probe.format('symbol')}"]
        if self.by_timeframe:
            conditions.append(f"market_data.timeframe = {probe.format('timeframe')}")
        if self.bound is not Bound.NONE:
            conditions.append(f"market_data.timestamp {self.bound.value} {probe.format('bound')}")
        return " AND ".join(conditions)

    def _build(self, dialect: str, parts: int) -> TextualSelect:
        binds: list[BindParameter[Any]]
        if dialect == _POSTGRESQL:
            sql, binds = self._lateral()
        else:
            sql, binds = self._union(parts)
        return (
            text(sql)
            .bindparams(*binds)
            .columns(
                column("probe", Integer()),
                *(column(name, market_data.c[name].type) for name in self._selected),
            )
        )

    def _lateral(self) -> tuple[str, list[BindParameter[Any]]]:
        fields = self._fields
        selected = ", ".join(f"market_data.{name}" for name in self._selected)
        arrays = ", ".join(f":{name}" for name, _ in fields)
        # LIMIT is a reserved word, so the probe's columns are named with a prefix.
        named = ", ".join(f"wanted_{name}" for name, _ in fields)
        # Every name spliced in is a market_data column checked in __init__ or a constant here.
        sql = (
            f"SELECT wanted.position - 1 AS probe, newest.* FROM unnest({arrays}) "  # noqa: S608
            f"WITH ORDINALITY AS wanted({named}, position) "
            f"CROSS JOIN LATERAL (SELECT {selected} FROM market_data "
            f"WHERE {self._conditions('wanted.wanted_{}')} "
            "ORDER BY market_data.timestamp DESC LIMIT wanted.wanted_limit) AS newest "
            "ORDER BY probe, newest.timestamp DESC"
        )
        return sql, [bindparam(name, type_=ARRAY(kind)) for name, kind in fields]

    def _union(self, parts: int) -> tuple[str, list[BindParameter[Any]]]:
        selected = ", ".join(self._selected)
        sql = " UNION ALL ".join(
            # Every name spliced in is a market_data column checked in __init__ or a loop index.
            f"SELECT {index} AS probe, {selected} FROM ("  # noqa: S608
            f"SELECT {selected} FROM market_data WHERE {self._conditions(':{}_' + str(index))} "
            f"ORDER BY timestamp DESC LIMIT :limit_{index}) AS newest_{index}"
            for index in range(parts)
        )
        binds = [
            bindparam(f"{name}_{index}", type_=kind) for index in range(parts) for name, kind in self._fields
        ]
        return sql + " ORDER BY probe, timestamp DESC", binds
