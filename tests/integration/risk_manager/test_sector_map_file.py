"""The sector map file: generated from the S&P 500 sample once, then read as the user edits it."""

from __future__ import annotations

from pathlib import Path

import pytest

from trader.adapters.replay import load_sector_map
from trader.adapters.sector_map import SectorMapError, ensure_sector_map, read_sector_map


def test_an_absent_map_is_generated_from_the_sample_and_then_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "config" / "sector_map.csv"
    sectors = ensure_sector_map(path)

    expected = {symbol: info.sector for symbol, info in load_sector_map().items()}
    assert sectors == expected
    edited = path.read_text().replace("AAPL,Information Technology", "AAPL,Consumer Electronics")
    path.write_text(edited)
    assert ensure_sector_map(path)["AAPL"] == "Consumer Electronics"


def test_a_hand_written_map_needs_only_symbol_and_sector(tmp_path: Path) -> None:
    path = tmp_path / "sectors.csv"
    path.write_text("Symbol,Sector\nbrk.b,Financials\n\nxom,Energy\n")
    assert read_sector_map(path) == {"BRK.B": "Financials", "XOM": "Energy"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("ticker,sector\nAAPL,Tech\n", "missing symbol"),
        ("symbol,sector\nAAPL,\n", "line 2: both symbol and sector"),
        ("symbol,sector\nAAPL,Tech\nAAPL,Energy\n", "line 3: AAPL is listed twice"),
        ("symbol,sector\n$$$,Tech\n", "line 2: malformed symbol"),
    ],
)
def test_a_broken_map_names_the_line_and_the_fix(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "sectors.csv"
    path.write_text(content)
    with pytest.raises(SectorMapError, match=fragment):
        read_sector_map(path)
