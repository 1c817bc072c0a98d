"""Bars in `market_data`: one row per (symbol, timestamp), written as idempotent bulk upserts.

Bulk path: on PostgreSQL a batch whose time ranges hold no stored row yet (a backfill of new data)
is COPYed (asyncpg `copy_records_to_table`) straight into `market_data`; any other batch is COPYed
into a temporary table and merged with one `INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE
changed`. On SQLite it is one `executemany` of the same upsert. Identical rows are left untouched, so
re-ingesting a batch writes nothing; the counts say what was inserted, corrected or unchanged.
The watchlist (the universe the collector follows) is kept here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Row, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.newest_rows import Bound, NewestRows, Probe
from trader.adapters.db.tables import market_data, watchlist
from trader.core.market import Bar, Timeframe
from trader.core.strategies.series import BarSeries

_VALUE_COLUMNS = (
    "open_price",
    "high_price",
    "low_price",
    "close_price",
    "volume",
    "adjustment_factor",
    "source",
)
# SQLite caps bound parameters per statement; 13 columns x 500 rows stays well inside it.
_BATCH_ROWS = 500
_COUNT_SERIES_PER_STATEMENT = 100
_WINDOW_COLUMNS = (
    "timestamp",
    "open_price",
    "high_price",
    "low_price",
    "close_price",
    "volume",
    "adjustment_factor",
)
_WINDOWS = NewestRows(_WINDOW_COLUMNS, bound=Bound.BEFORE)
_LATEST = NewestRows(("timestamp",), by_timeframe=True)


@dataclass(frozen=True, slots=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int

    @property
    def written(self) -> int:
        return self.inserted + self.updated


@dataclass(frozen=True, slots=True)
class SymbolFreshness:
    symbol: str
    latest_at: datetime
    bar_count: int


def _row(bar: Bar) -> dict[str, Any]:
    return {
        "symbol": bar.symbol,
        "timestamp": bar.timestamp,
        "timeframe": bar.timeframe.value,
        "open_price": bar.open,
        "high_price": bar.high,
        "low_price": bar.low,
        "close_price": bar.close,
        "volume": bar.volume,
        "source": bar.source,
        "adjustment_factor": bar.adjustment_factor,
    }


def _sqlite_stamp(moment: datetime) -> str:
    # The text SQLAlchemy's SQLite DateTime writes (UTC, no offset), so both paths key rows alike.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def sqlite_record(bar: Bar, feed: str | None) -> tuple[Any, ...]:
    return (
        bar.symbol,
        _sqlite_stamp(bar.timestamp),
        bar.timeframe.value,
        float(bar.open),
        float(bar.high),
        float(bar.low),
        float(bar.close),
        float(bar.volume),
        bar.source,
        feed,
        float(bar.adjustment_factor),
    )


def postgres_record(bar: Bar, feed: str | None) -> tuple[Any, ...]:
    return (
        bar.symbol,
        bar.timestamp,
        bar.timeframe.value,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.source,
        feed,
        bar.adjustment_factor,
    )


# The column order of `sqlite_record` / `postgres_record` tuples.
RECORD_COLUMNS = (
    "symbol",
    "timestamp",
    "timeframe",
    "open_price",
    "high_price",
    "low_price",
    "close_price",
    "volume",
    "source",
    "feed",
    "adjustment_factor",
)
_UPDATED = ("timeframe", *_VALUE_COLUMNS, "feed")
_STAGING_TABLE = "incoming_market_data"


def _upsert_sql(source: str, distinct: str) -> str:
    columns = ", ".join(RECORD_COLUMNS)
    assignments = ", ".join(f"{name} = excluded.{name}" for name in _UPDATED)
    changed = " OR ".join(f"market_data.{name} {distinct} excluded.{name}" for name in _UPDATED)
    return (
        f"INSERT INTO market_data ({columns}) {source} "
        f"ON CONFLICT (symbol, timestamp) DO UPDATE SET {assignments} WHERE {changed}"
    )


_SQLITE_UPSERT = _upsert_sql("VALUES (" + ", ".join("?" for _ in RECORD_COLUMNS) + ")", "IS NOT")
# Every name spliced into these statements is a constant of this module, never input.
_POSTGRES_MERGE = (
    "WITH written AS ("  # noqa: S608
    + _upsert_sql(
        f"SELECT {', '.join(RECORD_COLUMNS)} FROM {_STAGING_TABLE}",  # noqa: S608
        "IS DISTINCT FROM",
    )
    # xmax is 0 on a freshly inserted row version and set on an updated one.
    + " RETURNING (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE inserted), count(*) FROM written"
)

# Does any stored row fall inside one of the batch's per-symbol time ranges? (an index range scan each)
_POSTGRES_OVERLAP_PROBE = (
    "SELECT EXISTS (SELECT 1 FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) "
    "AS incoming(symbol, first_at, last_at) JOIN market_data ON market_data.symbol = incoming.symbol "
    "AND market_data.timestamp BETWEEN incoming.first_at AND incoming.last_at)"
)


@dataclass(frozen=True, slots=True)
class StoredBar:
    """A bar as stored, with the data feed it came from (Alpaca's iex/sip; None for other sources)."""

    bar: Bar
    feed: str | None


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    symbol: str
    timeframe: Timeframe
    first_at: datetime
    latest_at: datetime
    bar_count: int


FACTOR_CHANGE_TOLERANCE = Decimal("0.0001")


_ONE = Decimal(1)


def _series(symbol: str, rows: Sequence[Row[Any]]) -> BarSeries:
    """Window rows (oldest first) as `BarSeries.from_bars` of their `Bar` records gives them."""
    if not rows:
        return BarSeries.from_arrays(symbol, [], [], [], [], [], [])
    # Rows are (probe, timestamp, *_WINDOW_COLUMNS[1:]): transposed in one pass.
    _, timestamps, opens, highs, lows, closes, volumes, factors = zip(*rows, strict=True)
    return BarSeries.from_decimal_columns(
        symbol,
        timestamps,
        opens,
        highs,
        lows,
        closes,
        volumes,
        # As `_bar` reads a row: a zero factor counts as none.
        factors=[factor or _ONE for factor in factors],
    )


class MarketDataStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    async def upsert_bars(self, bars: Sequence[Bar], *, feed: str | None = None) -> UpsertResult:
        """Insert new bars, correct changed ones, leave identical ones untouched (re-ingest is a no-op).

        A key repeated within `bars` keeps its last occurrence. `feed` is recorded on every row.
        """
        if not bars:
            return UpsertResult(0, 0, 0)
        unique = list({(bar.symbol, bar.timestamp): bar for bar in bars}.values())
        if self.dialect == "postgresql":
            inserted, written = await self._upsert_postgres(unique, feed)
        else:
            inserted, written = await self._upsert_sqlite(unique, feed)
        return UpsertResult(inserted, written - inserted, len(unique) - written)

    async def _upsert_sqlite(self, bars: list[Bar], feed: str | None) -> tuple[int, int]:
        async with self._engine.begin() as connection:
            highest = (
                await connection.exec_driver_sql("SELECT coalesce(max(id), 0) FROM market_data")
            ).scalar()
            before = (await connection.exec_driver_sql("SELECT total_changes()")).scalar()
            await connection.exec_driver_sql(_SQLITE_UPSERT, [sqlite_record(bar, feed) for bar in bars])
            after = (await connection.exec_driver_sql("SELECT total_changes()")).scalar()
            # New rows get ids above the old maximum, so this counts exactly the inserted ones.
            inserted = (
                await connection.exec_driver_sql("SELECT count(*) FROM market_data WHERE id > ?", (highest,))
            ).scalar()
        return int(inserted or 0), int((after or 0) - (before or 0))

    async def _upsert_postgres(self, bars: list[Bar], feed: str | None) -> tuple[int, int]:
        records = [postgres_record(bar, feed) for bar in bars]
        ranges: dict[str, tuple[datetime, datetime]] = {}
        for bar in bars:
            first, last = ranges.get(bar.symbol, (bar.timestamp, bar.timestamp))
            ranges[bar.symbol] = (min(first, bar.timestamp), max(last, bar.timestamp))
        async with self._engine.begin() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            overlaps = await driver.fetchval(
                _POSTGRES_OVERLAP_PROBE,
                list(ranges),
                [first for first, _ in ranges.values()],
                [last for _, last in ranges.values()],
            )
            if not overlaps:
                # Nothing stored in the batch's time ranges: COPY straight into the table. A writer
                # racing us (or a broken constraint) fails the savepoint, and the merge path takes over.
                try:
                    async with driver.transaction():
                        await driver.copy_records_to_table(
                            "market_data", records=records, columns=RECORD_COLUMNS
                        )
                    return len(records), len(records)
                except asyncpg.IntegrityConstraintViolationError:
                    pass  # the merge below reports a broken constraint as SQLAlchemy's IntegrityError
            column_types = ", ".join(
                f"{name} {market_data.c[name].type.compile(dialect=self._engine.dialect)}"
                for name in RECORD_COLUMNS
            )
            await connection.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {_STAGING_TABLE} ({column_types}) ON COMMIT DROP"
            )
            await driver.copy_records_to_table(_STAGING_TABLE, records=records, columns=RECORD_COLUMNS)
            inserted, written = tuple((await connection.exec_driver_sql(_POSTGRES_MERGE)).one())
        return int(inserted), int(written)

    def _query(
        self,
        symbol: str,
        timeframe: Timeframe | None,
        start: datetime | None,
        end: datetime | None,
        limit: int | None,
        newest_first: bool,
    ) -> Any:
        conditions = [market_data.c.symbol == symbol]
        if timeframe is not None:
            conditions.append(market_data.c.timeframe == timeframe.value)
        if start is not None:
            conditions.append(market_data.c.timestamp >= start)
        if end is not None:
            conditions.append(market_data.c.timestamp < end)
        order = market_data.c.timestamp.desc() if newest_first else market_data.c.timestamp.asc()
        query = select(market_data).where(and_(*conditions)).order_by(order)
        return query if limit is None else query.limit(limit)

    @staticmethod
    def _bar(row: Any) -> Bar:
        return Bar(
            symbol=row["symbol"],
            timeframe=Timeframe(row["timeframe"]),
            timestamp=row["timestamp"],
            open=row["open_price"],
            high=row["high_price"],
            low=row["low_price"],
            close=row["close_price"],
            volume=row["volume"],
            source=row["source"],
            adjustment_factor=row["adjustment_factor"] or _ONE,
        )

    async def bars(
        self,
        symbol: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        timeframe: Timeframe | None = None,
    ) -> list[Bar]:
        query = self._query(symbol, timeframe, start, end, limit, newest_first)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [self._bar(row) for row in rows]

    async def bars_of(
        self, symbols: Sequence[str], timeframe: Timeframe, start: datetime, end: datetime
    ) -> dict[str, list[Bar]]:
        """Each symbol's bars starting in [start, end), oldest first, a few statements for all of them."""
        found: dict[str, list[Bar]] = {symbol: [] for symbol in symbols}
        for first in range(0, len(symbols), _BATCH_ROWS):
            query = (
                select(market_data)
                .where(
                    market_data.c.symbol.in_(symbols[first : first + _BATCH_ROWS]),
                    market_data.c.timeframe == timeframe.value,
                    market_data.c.timestamp >= start,
                    market_data.c.timestamp < end,
                )
                .order_by(market_data.c.symbol, market_data.c.timestamp)
            )
            async with self._engine.connect() as connection:
                rows = (await connection.execute(query)).mappings().all()
            for row in rows:
                found[row["symbol"]].append(self._bar(row))
        return found

    async def counts_between(
        self, timeframe: Timeframe, after: Mapping[str, datetime | None], before: datetime
    ) -> dict[str, tuple[int, datetime, datetime]]:
        """Per symbol: how many bars start after its own bound (None: from the first) and before
        `before`, and the first and last of them; symbols with none are left out."""
        result: dict[str, tuple[int, datetime, datetime]] = {}
        items = list(after.items())
        for first in range(0, len(items), _COUNT_SERIES_PER_STATEMENT):
            conditions = [
                and_(market_data.c.symbol == symbol, market_data.c.timestamp > bound)
                if bound is not None
                else market_data.c.symbol == symbol
                for symbol, bound in items[first : first + _COUNT_SERIES_PER_STATEMENT]
            ]
            query = (
                select(
                    market_data.c.symbol,
                    func.count(),
                    func.min(market_data.c.timestamp),
                    func.max(market_data.c.timestamp),
                )
                .where(
                    market_data.c.timeframe == timeframe.value,
                    market_data.c.timestamp < before,
                    or_(*conditions),
                )
                .group_by(market_data.c.symbol)
            )
            async with self._engine.connect() as connection:
                for symbol, count, earliest, latest in (await connection.execute(query)).all():
                    result[symbol] = (int(count), earliest, latest)
        return result

    async def window_series(self, requests: Sequence[tuple[str, datetime, int]]) -> list[BarSeries]:
        """For each (symbol, end, limit): the newest `limit` bars before `end`, oldest first, as the
        adjusted `BarSeries.from_bars(bars(symbol, end=end, limit=limit, newest_first=True)[::-1])`
        (empty when none is stored), read straight into columns without building `Bar` records."""
        probes = [Probe(symbol, limit, end) for symbol, end, limit in requests]
        async with self._engine.connect() as connection:
            found = await _WINDOWS.read(connection, probes)
        return [_series(probe.symbol, rows[::-1]) for probe, rows in zip(probes, found, strict=True)]

    async def stored_bars(
        self,
        symbol: str,
        *,
        timeframe: Timeframe | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[StoredBar]:
        """Like `bars`, with each row's feed."""
        query = self._query(symbol, timeframe, start, end, limit, newest_first)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [StoredBar(self._bar(row), row["feed"]) for row in rows]

    async def timestamps(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> list[datetime]:
        """The stored bar starts of one series in [start, end), for gap detection."""
        query = (
            select(market_data.c.timestamp)
            .where(
                market_data.c.symbol == symbol,
                market_data.c.timeframe == timeframe.value,
                market_data.c.timestamp >= start,
                market_data.c.timestamp < end,
            )
            .order_by(market_data.c.timestamp)
        )
        async with self._engine.connect() as connection:
            return list((await connection.execute(query)).scalars().all())

    async def summaries(self) -> list[SeriesSummary]:
        """Per (symbol, timeframe): first and latest bar, count."""
        query = (
            select(
                market_data.c.symbol,
                market_data.c.timeframe,
                func.min(market_data.c.timestamp),
                func.max(market_data.c.timestamp),
                func.count(),
            )
            .group_by(market_data.c.symbol, market_data.c.timeframe)
            .order_by(market_data.c.symbol, market_data.c.timeframe)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            SeriesSummary(symbol, Timeframe(timeframe), first, latest, count)
            for symbol, timeframe, first, latest, count in rows
        ]

    async def latest_at(self, symbol: str, timeframe: Timeframe) -> datetime | None:
        query = select(func.max(market_data.c.timestamp)).where(
            market_data.c.symbol == symbol, market_data.c.timeframe == timeframe.value
        )
        async with self._engine.connect() as connection:
            latest: datetime | None = (await connection.execute(query)).scalar()
        return latest

    async def latest_of(
        self, series: Sequence[tuple[str, Timeframe]]
    ) -> dict[tuple[str, Timeframe], datetime | None]:
        """`latest_at` of several series, a few statements for all of them (each still one index probe)."""
        keys = list(dict.fromkeys(series))
        async with self._engine.connect() as connection:
            found = await _LATEST.read(
                connection, [Probe(symbol, 1, timeframe=timeframe.value) for symbol, timeframe in keys]
            )
        return {key: rows[0].timestamp if rows else None for key, rows in zip(keys, found, strict=True)}

    async def carry_back_adjustment(self, bar: Bar) -> Decimal | None:
        """A corporate action since `bar` was stored: the provider now gives the same bar another
        factor. Scale the stored factors of it and every older bar of its series by new/old, in one
        transaction, so the adjusted series stays continuous. Returns the ratio applied, if any."""
        key = (market_data.c.symbol == bar.symbol) & (market_data.c.timeframe == bar.timeframe.value)
        async with self._engine.begin() as connection:
            stored = (
                await connection.execute(
                    select(market_data.c.adjustment_factor).where(
                        key, market_data.c.timestamp == bar.timestamp
                    )
                )
            ).scalar()
            if stored is None or stored == 0:
                return None
            ratio: Decimal = bar.adjustment_factor / Decimal(stored)
            # Rounded prices give factors a hair off; only a real action moves them by this much.
            if abs(ratio - 1) < FACTOR_CHANGE_TOLERANCE:
                return None
            await connection.execute(
                update(market_data)
                .where(key, market_data.c.timestamp < bar.timestamp)
                .values(adjustment_factor=market_data.c.adjustment_factor * ratio)
            )
        return ratio

    async def bucket_counts(self, base: Timeframe, target: Timeframe) -> dict[str, tuple[int, datetime]]:
        """Per symbol: how many `target` bars its stored `base` bars make, and its newest base bar.

        Counted in SQL as distinct bucket numbers, floor((epoch - anchor) / step): that is the
        session-anchored bucket because every NYSE session opens at 09:30 New York, half past a UTC
        hour (New York is a whole number of hours off UTC), and never crosses a UTC midnight (so a
        daily bucket is a UTC day)."""
        step = 86_400 if not target.is_intraday else int(target.duration.total_seconds())
        anchor = 0 if not target.is_intraday else 1800 % step
        epoch: Any
        if self.dialect == "postgresql":
            epoch = func.cast(func.extract("epoch", market_data.c.timestamp), BigInteger)
        else:
            epoch = func.cast(func.strftime("%s", market_data.c.timestamp), BigInteger)  # UTC text stamps
        bucket = (epoch - anchor) // step
        query = (
            select(market_data.c.symbol, func.count(func.distinct(bucket)), func.max(market_data.c.timestamp))
            .where(market_data.c.timeframe == base.value)
            .group_by(market_data.c.symbol)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {symbol: (int(count), latest) for symbol, count, latest in rows}

    async def has_symbol(self, symbol: str) -> bool:
        query = select(market_data.c.id).where(market_data.c.symbol == symbol).limit(1)
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).first() is not None

    async def freshness(self) -> list[SymbolFreshness]:
        query = (
            select(market_data.c.symbol, func.max(market_data.c.timestamp), func.count())
            .group_by(market_data.c.symbol)
            .order_by(market_data.c.symbol)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        # max() keeps the column's type, so the timestamps come back aware UTC on both back ends.
        return [SymbolFreshness(symbol, latest, count) for symbol, latest, count in rows]


class WatchlistStore:
    """The symbols the collector follows; editable at run time through the API."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def symbols(self) -> list[str]:
        query = select(watchlist.c.symbol).where(watchlist.c.active.is_(True)).order_by(watchlist.c.symbol)
        async with self._engine.connect() as connection:
            return list((await connection.execute(query)).scalars().all())

    async def is_empty(self) -> bool:
        async with self._engine.connect() as connection:
            return (await connection.execute(select(watchlist.c.id).limit(1))).first() is None

    async def add(self, symbols: Sequence[str], added_by: str) -> list[str]:
        """Add (or re-activate) symbols; return those that were not active before."""
        current = set(await self.symbols())
        fresh = [symbol for symbol in dict.fromkeys(symbols) if symbol not in current]
        if not fresh:
            return []
        async with self._engine.begin() as connection:
            for symbol in fresh:
                updated = await connection.execute(
                    update(watchlist)
                    .where(watchlist.c.symbol == symbol)
                    .values(active=True, added_by=added_by)
                )
                if updated.rowcount == 0:
                    await connection.execute(
                        insert(watchlist).values(symbol=symbol, active=True, added_by=added_by)
                    )
        return fresh

    async def remove(self, symbol: str) -> bool:
        """Deactivate a symbol (its stored bars stay); False when it was not on the list."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(watchlist)
                .where(watchlist.c.symbol == symbol, watchlist.c.active.is_(True))
                .values(active=False)
            )
        return bool(result.rowcount)
