"""Alpaca's screener through alpaca-py (ScreenerClient): the day's most active stocks and its top
movers, each as (symbol, score) candidates for the universe."""

from __future__ import annotations

import asyncio

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import MostActivesBy
from alpaca.data.historical.screener import ScreenerClient
from alpaca.data.requests import MarketMoversRequest, MostActivesRequest
from pydantic import ValidationError

from trader.adapters.http_timeouts import apply_timeout
from trader.adapters.marketdata.errors import ProviderError, ProviderUnavailableError, transport_error
from trader.core.market import InvalidSymbolError, normalize_symbol

PROVIDER = "alpaca_screener"


class AlpacaScreener:
    def __init__(
        self, api_key: str, secret_key: str, *, url_override: str | None = None, timeout_seconds: float = 10.0
    ) -> None:
        self._timeout_seconds = timeout_seconds
        self._client = ScreenerClient(api_key, secret_key, url_override=url_override or None)
        self._client._retry = 0
        apply_timeout(self._client._session, timeout_seconds)

    def _translate(self, error: Exception) -> ProviderError:
        return transport_error(PROVIDER, error, self._timeout_seconds) or ProviderUnavailableError(
            PROVIDER, f"{type(error).__name__}: {str(error)[:200]}"
        )

    async def most_actives(self, top: int) -> list[tuple[str, float]]:
        """(symbol, volume), most active first."""
        try:
            answer = await asyncio.to_thread(
                self._client.get_most_actives, MostActivesRequest(top=top, by=MostActivesBy.VOLUME)
            )
        except (APIError, requests.RequestException, ValidationError, ValueError) as error:
            raise self._translate(error) from error
        return _stocks([(stock.symbol, stock.volume) for stock in answer.most_actives])  # type: ignore[union-attr]

    async def movers(self, top: int) -> list[tuple[str, float]]:
        """(symbol, |percent change|) of the top gainers and losers, biggest moves first."""
        try:
            answer = await asyncio.to_thread(self._client.get_market_movers, MarketMoversRequest(top=top))
        except (APIError, requests.RequestException, ValidationError, ValueError) as error:
            raise self._translate(error) from error
        moves = [(mover.symbol, abs(mover.percent_change)) for mover in [*answer.gainers, *answer.losers]]  # type: ignore[union-attr]
        return _stocks(sorted(moves, key=lambda item: -item[1]))


def _stocks(rows: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Rows whose symbol is a plain stock symbol (warrants and units like 'GRCYW' pass, odd ones not)."""
    kept = []
    for symbol, score in rows:
        try:
            kept.append((normalize_symbol(symbol), float(score)))
        except InvalidSymbolError:
            continue
    return kept
