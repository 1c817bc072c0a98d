"""Which bars the system keeps and announces, from the settings, in one place for every service.

`market_data` holds one timeframe (the base): 1day for the replay, 1min from a live provider, or
DATA_BASE_TIMEFRAME. Above it, the live timeframes (DATA_LIVE_TIMEFRAMES) are aggregated from the
base bars and announced as each closes; a strategy of any of them reads windows built the same way.
"""

from __future__ import annotations

from trader.core.market import Timeframe
from trader.settings import MarketDataSource, Settings


def base_timeframe(settings: Settings) -> Timeframe:
    if settings.data_base_timeframe:
        return Timeframe.parse(settings.data_base_timeframe)
    return Timeframe.DAY1 if settings.market_data_source is MarketDataSource.REPLAY else Timeframe.MINUTE1


def buildable_from(base: Timeframe, timeframe: Timeframe) -> bool:
    """Can bars of `timeframe` be aggregated from stored `base` bars (or are they the base)?"""
    if timeframe is base:
        return True
    if not base.is_intraday:
        return False
    return not timeframe.is_intraday or (
        timeframe.duration > base.duration and not timeframe.duration % base.duration
    )


def live_timeframes(settings: Settings) -> tuple[Timeframe, ...]:
    """The timeframes announced above the base one, shortest first (the replay announces only its base)."""
    base = base_timeframe(settings)
    if settings.market_data_source is MarketDataSource.REPLAY:
        return ()
    chosen = {Timeframe.parse(item) for item in settings.data_live_timeframes.split(",") if item.strip()}
    usable = [timeframe for timeframe in chosen if timeframe is not base and buildable_from(base, timeframe)]
    return tuple(sorted(usable, key=lambda timeframe: timeframe.duration))
