"""Twelve Data market data through the official `twelvedata` SDK."""

from trader.adapters.twelvedata.provider import TwelveDataProvider

__all__ = ["TwelveDataProvider"]
