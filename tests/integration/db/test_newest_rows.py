"""The newest-rows reader and the market-data reads built on it, on SQLite and PostgreSQL.

Every answer is checked against the plain one-series queries of `MarketDataStore`, which go
through SQLAlchemy's typed select: same rows, same exact Decimals, same aware-UTC timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.newest_rows import PROBES_PER_STATEMENT, Bound, NewestRows, Probe
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.core.market import Bar, Timeframe
from trader.core.strategies.series import BarSeries

START = datetime(2024, 3, 8, 14, 30, tzinfo=UTC)
PRICES = ("open_price", "high_price", "low_price", "close_price", "volume", "adjustment_factor")
# Factors as a carried-back split and dividend leave them: long fractions, and one zero, which
# a stored bar reads as "no factor" (1).
FACTORS = (Decimal("0.3333333333"), Decimal("0.5"), Decimal("0.9876543211"), Decimal(0), Decimal(1))


def bar(symbol: str, minute: int, *, timeframe: Timeframe = Timeframe.MINUTE1) -> Bar:
    close = Decimal(100 + minute) + Decimal("0.12345678") + Decimal(len(symbol)) / 7
    return Bar(
        symbol=symbol,
        timeframe=timeframe,
        timestamp=START + timedelta(minutes=minute),
        open=(close - Decimal("0.25")).quantize(Decimal("0.00000001")),
        high=(close + Decimal("1.00000003")).quantize(Decimal("0.00000001")),
        low=(close - Decimal("1.5")).quantize(Decimal("0.00000001")),
        close=close.quantize(Decimal("0.00000001")),
        volume=Decimal(1500 + minute) + Decimal("0.0625"),
        source="test",
        adjustment_factor=FACTORS[minute % len(FACTORS)],
    )


def values(row: object) -> tuple[object, ...]:
    return tuple(getattr(row, name) for name in ("timestamp", *PRICES))


def stored_values(stored: Bar) -> tuple[object, ...]:
    # The stored factor as read, before `Bar` records turn a zero into 1.
    factor = FACTORS[int((stored.timestamp - START) / timedelta(minutes=1)) % len(FACTORS)]
    return (stored.timestamp, stored.open, stored.high, stored.low, stored.close, stored.volume, factor)


@pytest.fixture
async def store(engine: AsyncEngine) -> MarketDataStore:
    market = MarketDataStore(engine)
    await market.upsert_bars(
        [bar("AAPL", minute) for minute in range(40)]
        + [bar("MSFT", minute) for minute in range(0, 40, 3)]
        + [bar("NVDA", 5)]
    )
    return market


async def test_each_probe_gets_the_newest_rows_before_its_bound_exactly_as_stored(
    engine: AsyncEngine, store: MarketDataStore
) -> None:
    reader = NewestRows(("timestamp", *PRICES), bound=Bound.BEFORE)
    probes = [
        Probe("AAPL", 6, START + timedelta(minutes=20)),
        Probe("MSFT", 4, START + timedelta(minutes=20)),
        Probe("AAPL", 3, START + timedelta(minutes=39, microseconds=1)),  # the same series again
        Probe("NVDA", 10, START + timedelta(minutes=30)),  # fewer stored than asked
        Probe("TSLA", 5, START + timedelta(minutes=30)),  # nothing stored
        Probe("AAPL", 0, START + timedelta(minutes=30)),
        Probe("MSFT", 5, START),  # nothing before the bound
    ]
    async with engine.connect() as connection:
        found = await reader.read(connection, probes)
    assert [len(rows) for rows in found] == [6, 4, 3, 1, 0, 0, 0]
    for probe, rows in zip(probes, found, strict=True):
        expected = await store.bars(probe.symbol, end=probe.bound, limit=probe.limit, newest_first=True)
        assert [values(row) for row in rows] == [stored_values(item) for item in expected]
        for row in rows:
            assert row.timestamp.utcoffset() == timedelta(0)
            # Exact to the column's scale on both back ends (SQLite keeps a float underneath).
            assert row.close_price.as_tuple().exponent == -8
            assert row.adjustment_factor.as_tuple().exponent == -10


async def test_a_through_bound_includes_the_row_at_it_and_a_before_bound_does_not(
    engine: AsyncEngine, store: MarketDataStore
) -> None:
    at = START + timedelta(minutes=12)
    async with engine.connect() as connection:
        through = await NewestRows(("close_price",), bound=Bound.THROUGH).read(
            connection, [Probe("AAPL", 2, at)]
        )
        before = await NewestRows(("close_price",), bound=Bound.BEFORE).read(
            connection, [Probe("AAPL", 2, at)]
        )
        unbounded = await NewestRows(("close_price",)).read(connection, [Probe("AAPL", 2)])
    assert [row.timestamp for row in through[0]] == [at, at - timedelta(minutes=1)]
    assert [row.timestamp for row in before[0]] == [at - timedelta(minutes=1), at - timedelta(minutes=2)]
    assert [row.timestamp for row in unbounded[0]] == [START + timedelta(minutes=m) for m in (39, 38)]
    assert through[0][0].close_price == bar("AAPL", 12).close


async def test_more_probes_than_one_statement_holds_each_get_their_own_rows(engine: AsyncEngine) -> None:
    market = MarketDataStore(engine)
    count = 2 * PROBES_PER_STATEMENT + 7  # two full statements and a short one
    symbols = [f"S{index:03d}" for index in range(count)]
    # Each symbol's history is as long as its position mod 4, so neighbours differ.
    await market.upsert_bars(
        [bar(symbol, minute) for index, symbol in enumerate(symbols) for minute in range(index % 4)]
    )
    async with engine.connect() as connection:
        found = await NewestRows(("symbol", "timestamp")).read(
            connection, [Probe(symbol, 2) for symbol in symbols]
        )
    for index, (symbol, rows) in enumerate(zip(symbols, found, strict=True)):
        newest = [START + timedelta(minutes=minute) for minute in reversed(range(index % 4))][:2]
        assert [(row.symbol, row.timestamp) for row in rows] == [(symbol, moment) for moment in newest]


async def test_a_timeframe_reader_reads_only_that_series(engine: AsyncEngine, store: MarketDataStore) -> None:
    await store.upsert_bars([bar("AAPL", 45, timeframe=Timeframe.MINUTE5)])
    reader = NewestRows(("timestamp", "timeframe"), by_timeframe=True)
    async with engine.connect() as connection:
        found = await reader.read(
            connection,
            [
                Probe("AAPL", 1, timeframe="1min"),
                Probe("AAPL", 1, timeframe="5min"),
                Probe("AAPL", 1, timeframe="1h"),
            ],
        )
    assert [[(row.timestamp, row.timeframe) for row in rows] for rows in found] == [
        [(START + timedelta(minutes=39), "1min")],
        [(START + timedelta(minutes=45), "5min")],
        [],
    ]


async def test_a_probe_missing_what_its_reader_filters_on_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="not market_data columns"):
        NewestRows(("close", "timestamp"))
    async with engine.connect() as connection:
        with pytest.raises(ValueError, match="needs a bound"):
            await NewestRows(("close_price",), bound=Bound.BEFORE).read(connection, [Probe("AAPL", 1)])
        with pytest.raises(ValueError, match="needs a timeframe"):
            await NewestRows(("close_price",), by_timeframe=True).read(connection, [Probe("AAPL", 1)])
        with pytest.raises(ValueError, match="negative limit"):
            await NewestRows(("close_price",)).read(connection, [Probe("AAPL", -1)])


async def test_window_series_are_the_backtests_series_float_for_float(store: MarketDataStore) -> None:
    requests = [
        ("AAPL", START + timedelta(minutes=39, microseconds=1), 21),
        ("AAPL", START + timedelta(minutes=10), 6),
        ("MSFT", START + timedelta(minutes=39, microseconds=1), 8),
        ("NVDA", START + timedelta(minutes=39, microseconds=1), 8),
    ]
    windows = await store.window_series(requests)
    for (symbol, end, limit), series in zip(requests, windows, strict=True):
        expected = BarSeries.from_bars(
            (await store.bars(symbol, end=end, limit=limit, newest_first=True))[::-1]
        )
        assert series.symbol == symbol
        for name in ("timestamps_ns", "open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(series, name), getattr(expected, name)), name
    # The factors are not all 1, so this compares adjusted prices, not raw ones.
    assert not np.array_equal(
        windows[0].close, BarSeries.from_bars(await store.bars("AAPL"), adjusted=False).close[-21:]
    )


async def test_window_series_of_an_unstored_symbol_is_empty(store: MarketDataStore) -> None:
    (series,) = await store.window_series([("TSLA", START + timedelta(days=1), 5)])
    assert (series.symbol, len(series)) == ("TSLA", 0)


async def test_latest_of_is_latest_at_of_each_series(store: MarketDataStore) -> None:
    await store.upsert_bars([bar("MSFT", 50, timeframe=Timeframe.MINUTE5)])
    series = [
        ("AAPL", Timeframe.MINUTE1),
        ("MSFT", Timeframe.MINUTE1),
        ("MSFT", Timeframe.MINUTE5),
        ("TSLA", Timeframe.MINUTE1),
        ("AAPL", Timeframe.MINUTE1),  # asked twice
    ]
    latest = await store.latest_of(series)
    assert set(latest) == set(series)
    for symbol, timeframe in series:
        assert latest[(symbol, timeframe)] == await store.latest_at(symbol, timeframe)
    assert latest[("MSFT", Timeframe.MINUTE5)] == START + timedelta(minutes=50)
    assert latest[("TSLA", Timeframe.MINUTE1)] is None
