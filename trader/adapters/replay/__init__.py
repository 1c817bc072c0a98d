"""Replay of recorded market data: real sample data from PyPI packages, users' own files,
deterministic synthetic minute bars, and a feed that releases bars as a clock passes their close."""

from trader.adapters.replay.feed import BarReplay, bar_close_at
from trader.adapters.replay.importer import BarFileError, import_bar_file, read_bar_file
from trader.adapters.replay.sample_data import (
    SampleDataMissingError,
    SectorInfo,
    load_bokeh_bars,
    load_sector_map,
    load_sp500_bars,
    read_bokeh_candidates,
    read_sp500_candidates,
)
from trader.adapters.replay.synthetic import SyntheticMarket, generate_minute_bars

__all__ = [
    "BarFileError",
    "BarReplay",
    "SampleDataMissingError",
    "SectorInfo",
    "SyntheticMarket",
    "bar_close_at",
    "generate_minute_bars",
    "import_bar_file",
    "load_bokeh_bars",
    "load_sector_map",
    "load_sp500_bars",
    "read_bar_file",
    "read_bokeh_candidates",
    "read_sp500_candidates",
]
