"""The sector map the risk manager's concentration limit reads: a CSV file a person may edit.

Columns `symbol,sector,industry,name` (only `symbol` and `sector` are required). When the file is
absent it is generated once from the S&P 500 sector list shipped with the sample data, so the
default works with no set-up and every later change is an edit of a plain file. Symbols missing
from the map share the sector "Unknown" (see trader.core.risk.context).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from pathlib import Path

from trader.adapters.replay import SampleDataMissingError, load_sector_map
from trader.core.market import normalize_symbol

log = logging.getLogger(__name__)

COLUMNS = ("symbol", "sector", "industry", "name")
REQUIRED_COLUMNS = ("symbol", "sector")


class SectorMapError(ValueError):
    """A sector map file that cannot be read; the message names the file, the row and the fix."""


def write_default_sector_map(path: Path, source: Path | None = None) -> int:
    """Write the S&P 500 sector list (from the sample data package, or `source`) to `path` as CSV.

    Returns the number of symbols written. Raises SampleDataMissingError when the package is absent.
    """
    infos = load_sector_map(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for symbol in sorted(infos):
            info = infos[symbol]
            writer.writerow((info.symbol, info.sector, info.industry, info.name))
    # Written aside then renamed, so a reader never sees half a file.
    temporary.replace(path)
    return len(infos)


def read_sector_map(path: Path) -> dict[str, str]:
    """symbol -> sector from a CSV file with at least the columns symbol and sector."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as error:
        raise SectorMapError(f"cannot read the sector map {path}: {error.strerror or error}") from error
    with handle:
        reader = csv.DictReader(handle)
        header = [name.strip().lower() for name in reader.fieldnames or ()]
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise SectorMapError(
                f"{path}: the header needs the columns {', '.join(REQUIRED_COLUMNS)}; "
                f"missing {', '.join(missing)} (found {', '.join(header) or 'no header'})"
            )
        reader.fieldnames = header
        sectors: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            raw_symbol = (row.get("symbol") or "").strip()
            sector = (row.get("sector") or "").strip()
            if not raw_symbol and not sector:
                continue
            if not raw_symbol or not sector:
                raise SectorMapError(f"{path} line {line}: both symbol and sector are needed, got {row!r}")
            try:
                symbol = normalize_symbol(raw_symbol)
            except ValueError as error:
                raise SectorMapError(f"{path} line {line}: {error}") from error
            if symbol in sectors and sectors[symbol] != sector:
                raise SectorMapError(
                    f"{path} line {line}: {symbol} is listed twice, as {sectors[symbol]!r} and {sector!r}"
                )
            sectors[symbol] = sector
    return sectors


def ensure_sector_map(path: Path, source: Path | None = None) -> Mapping[str, str]:
    """Read the sector map at `path`, generating the default there first when it does not exist.

    Without the sample data package the map is empty (every symbol "Unknown", which concentrates
    the sector limit rather than dissolving it) and a warning says how to fix it.
    """
    if not path.exists():
        try:
            count = write_default_sector_map(path, source)
        except SampleDataMissingError as error:
            log.warning(
                "no sector map at %s and none could be generated (%s); every symbol counts as sector "
                "'Unknown' until you write one with columns symbol,sector",
                path,
                error,
            )
            return {}
        log.info("wrote the default sector map (%d symbols) to %s; edit it to change sectors", count, path)
    return read_sector_map(path)
