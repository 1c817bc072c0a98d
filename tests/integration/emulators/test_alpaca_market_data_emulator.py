"""The official alpaca-py StockHistoricalDataClient against the Alpaca emulator over real HTTP."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
)
from alpaca.data.timeframe import TimeFrame

from tests.emulators.alpaca import AlpacaEmulator, minute_bars
from tests.emulators.faults import Fault
from tests.emulators.server import EmulatorServer

OPEN_AT = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


# alpaca-py types every answer `Model | RawData`; these tests use models, so the client is typed Any.
@pytest.fixture
def data(alpaca: AlpacaEmulator, alpaca_server: EmulatorServer) -> Any:
    client = StockHistoricalDataClient(alpaca.api_key, alpaca.secret_key, url_override=alpaca_server.base_url)
    client._retry = 0
    return client


def closes(first: str, count: int) -> list[Decimal]:
    return [Decimal(first) + Decimal("0.25") * n for n in range(count)]


def bars_request(symbols: list[str], **extra: Any) -> StockBarsRequest:
    return StockBarsRequest(
        symbol_or_symbols=symbols,
        timeframe=TimeFrame.Minute,
        start=OPEN_AT,
        end=OPEN_AT + timedelta(hours=1),
        **extra,
    )


def headers(alpaca: AlpacaEmulator) -> dict[str, str]:
    return {"APCA-API-KEY-ID": alpaca.api_key, "APCA-API-SECRET-KEY": alpaca.secret_key}


def test_multi_symbol_bars_parse_into_a_barset_and_the_feed_is_recorded(
    alpaca: AlpacaEmulator, data: Any
) -> None:
    alpaca.seed_bars("AAPL", "1Min", minute_bars(OPEN_AT, closes("190", 3)))
    alpaca.seed_bars("MSFT", "1Min", minute_bars(OPEN_AT, closes("370", 2)))

    barset = data.get_stock_bars(bars_request(["AAPL", "MSFT"], feed=DataFeed.IEX))

    assert [bar.close for bar in barset["AAPL"]] == [190.0, 190.25, 190.5]
    assert [bar.timestamp for bar in barset["MSFT"]] == [OPEN_AT, OPEN_AT + timedelta(minutes=1)]
    assert barset["AAPL"][1].open == 190.0
    sent = [r for r in alpaca.requests if r.path == "/v2/stocks/bars"][-1].query
    assert (sent["symbols"], sent["timeframe"], sent["feed"]) == ("AAPL,MSFT", "1Min", "iex")


def test_sdk_follows_page_tokens_across_symbols(alpaca: AlpacaEmulator, data: Any) -> None:
    alpaca.bars_page_size = 2
    alpaca.seed_bars("AAPL", "1Min", minute_bars(OPEN_AT, closes("190", 5)))
    alpaca.seed_bars("MSFT", "1Min", minute_bars(OPEN_AT, closes("370", 3)))

    barset = data.get_stock_bars(bars_request(["MSFT", "AAPL"]))

    pages = [r for r in alpaca.requests if r.path == "/v2/stocks/bars"]
    assert len(barset["AAPL"]) == 5
    assert len(barset["MSFT"]) == 3
    assert len(pages) == 4
    first_token = base64.b64decode(pages[1].query["page_token"]).decode()
    assert first_token == "AAPL|D|2024-01-02T14:31:00.000000000Z"


def test_limit_sort_and_inclusive_window(alpaca: AlpacaEmulator, data: Any) -> None:
    alpaca.seed_bars("AAPL", "1Min", minute_bars(OPEN_AT, closes("190", 10)))

    limited = data.get_stock_bars(bars_request(["AAPL"], limit=3))
    newest_first = data.get_stock_bars(bars_request(["AAPL"], sort="desc", limit=2))
    window = data.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="AAPL",
            timeframe=TimeFrame.Minute,
            start=OPEN_AT + timedelta(minutes=2),
            end=OPEN_AT + timedelta(minutes=4),
        )
    )

    assert len(limited["AAPL"]) == 3
    assert [bar.close for bar in newest_first["AAPL"]] == [192.25, 192.0]
    assert [bar.timestamp.minute for bar in window["AAPL"]] == [32, 33, 34]


def test_raw_bodies_have_the_fixture_shapes(alpaca: AlpacaEmulator, alpaca_server: EmulatorServer) -> None:
    alpaca.seed_bars("AAPL", "1Day", minute_bars(datetime(2024, 1, 2, 5, 0, tzinfo=UTC), closes("190", 2)))
    window = {"timeframe": "1Day", "start": "2024-01-01T00:00:00Z", "end": "2024-01-03T00:00:00Z"}

    multi = requests.get(
        f"{alpaca_server.base_url}/v2/stocks/bars",
        params={"symbols": "AAPL", **window},
        headers=headers(alpaca),
        timeout=5,
    ).json()
    single = requests.get(
        f"{alpaca_server.base_url}/v2/stocks/AAPL/bars", params=window, headers=headers(alpaca), timeout=5
    ).json()
    empty = requests.get(
        f"{alpaca_server.base_url}/v2/stocks/bars",
        params={"symbols": "NONE", **window},
        headers=headers(alpaca),
        timeout=5,
    ).json()

    assert set(multi) == {"bars", "next_page_token"}
    assert multi["bars"]["AAPL"][0] == {
        "t": "2024-01-02T05:00:00Z",
        "o": 190.0,
        "h": 190.05,
        "l": 189.95,
        "c": 190.0,
        "v": 1000,
        "n": 10,
        "vw": 190.0,
    }
    assert set(single) == {"bars", "symbol", "next_page_token"}
    assert single["symbol"] == "AAPL"
    assert len(single["bars"]) == 2
    assert empty == {"bars": {}, "next_page_token": None}


def test_feed_specific_seeds_and_a_refused_sip() -> None:
    emulator = AlpacaEmulator(sip_allowed=False)
    emulator.seed_bars("AAPL", "1Min", minute_bars(OPEN_AT, closes("190", 1)), feed="iex")
    emulator.seed_bars("AAPL", "1Min", minute_bars(OPEN_AT, closes("191", 1)), feed="sip")
    with EmulatorServer(emulator.app) as server:
        client = StockHistoricalDataClient(
            emulator.api_key, emulator.secret_key, url_override=server.base_url
        )
        client._retry = 0
        iex = client.get_stock_bars(bars_request(["AAPL"], feed=DataFeed.IEX))
        with pytest.raises(APIError) as refused:
            client.get_stock_bars(bars_request(["AAPL"], feed=DataFeed.SIP))

    assert iex["AAPL"][0].close == 190.0
    assert refused.value.status_code == 403
    assert "SIP" in str(refused.value)


def test_latest_quote_trade_and_bar(alpaca: AlpacaEmulator, alpaca_server: EmulatorServer, data: Any) -> None:
    alpaca.set_latest_quote("AAPL", bid=Decimal("190.05"), ask=Decimal("190.10"), bid_size=3, ask_size=5)
    alpaca.set_latest_trade("AAPL", price=Decimal("190.07"), size=50)
    alpaca.seed_bars("AAPL", "1Min", minute_bars(OPEN_AT, closes("190", 4)))

    quotes = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["AAPL", "NONE"]))
    trades = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL", feed=DataFeed.IEX))
    latest_bars = data.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="AAPL"))
    single = requests.get(
        f"{alpaca_server.base_url}/v2/stocks/AAPL/quotes/latest", headers=headers(alpaca), timeout=5
    ).json()

    assert set(quotes) == {"AAPL"}
    assert (quotes["AAPL"].bid_price, quotes["AAPL"].ask_price, quotes["AAPL"].ask_size) == (190.05, 190.1, 5)
    assert (trades["AAPL"].price, trades["AAPL"].size) == (190.07, 50)
    assert latest_bars["AAPL"].close == 190.75
    assert set(single) == {"symbol", "quote"}
    assert set(single["quote"]) == {"t", "ax", "ap", "as", "bx", "bp", "bs", "c", "z"}
    trade_query = [r for r in alpaca.requests if r.path == "/v2/stocks/trades/latest"][-1].query
    assert trade_query["feed"] == "iex"


def test_data_refuses_wrong_keys_and_passes_injected_429(
    alpaca: AlpacaEmulator, alpaca_server: EmulatorServer, data: Any
) -> None:
    stranger = StockHistoricalDataClient("nobody", "nothing", url_override=alpaca_server.base_url)

    with pytest.raises(APIError) as unauthorised:
        stranger.get_stock_bars(bars_request(["AAPL"]))
    alpaca.inject(Fault(status=429, path="/v2/stocks/bars"))
    with pytest.raises(APIError) as limited:
        data.get_stock_bars(bars_request(["AAPL"]))

    assert unauthorised.value.status_code == 401
    assert limited.value.status_code == 429
