"""The official `twelvedata` SDK (TDClient) against the Twelve Data emulator over real HTTP."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from twelvedata import TDClient
from twelvedata.exceptions import BadRequestError, InternalServerError, InvalidApiKeyError, TwelveDataError
from twelvedata.http_client import DefaultHttpClient

from tests.emulators.faults import Fault
from tests.emulators.server import EmulatorServer
from tests.emulators.twelvedata import SeedBar, TwelveDataEmulator, daily_rows
from trader.adapters.http_timeouts import TimeoutAdapter

SESSION_OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)  # 09:30 in New York (EST)


def minute_rows(count: int, first_close: Decimal = Decimal("190.00")) -> list[SeedBar]:
    rows = []
    for index in range(count):
        close = first_close + Decimal("0.10") * index
        rows.append(
            SeedBar(
                opened_at=SESSION_OPEN + timedelta(minutes=index),
                open=close - Decimal("0.05"),
                high=close + Decimal("0.20"),
                low=close - Decimal("0.20"),
                close=close,
                volume=1000 + index,
            )
        )
    return rows


@pytest.fixture
def client(twelvedata: TwelveDataEmulator, twelvedata_server: EmulatorServer) -> TDClient:
    return TDClient(apikey=twelvedata.api_key, base_url=twelvedata_server.base_url)


def test_time_series_serves_newest_first_with_string_numbers_in_exchange_time(
    twelvedata: TwelveDataEmulator, client: TDClient
) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(5))

    rows = client.time_series(symbol="AAPL", interval="1min", outputsize=3).as_json()

    assert [row["datetime"] for row in rows] == [
        "2024-01-02 09:34:00",
        "2024-01-02 09:33:00",
        "2024-01-02 09:32:00",
    ]
    assert rows[0] == {
        "datetime": "2024-01-02 09:34:00",
        "open": "190.35000",
        "high": "190.60000",
        "low": "190.20000",
        "close": "190.40000",
        "volume": "1004",
    }
    sent = [r for r in twelvedata.requests if r.path == "/time_series"][-1].query
    assert sent["symbol"] == "AAPL"
    assert sent["timezone"] == "Exchange"
    assert sent["order"] == "desc"
    assert sent["source"] == "python"


def test_raw_body_has_meta_values_and_status_ok(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars("AAPL", "5min", minute_rows(1))

    response = client.time_series(symbol="AAPL", interval="5min").price_endpoint.execute()

    body = response.json()
    assert body["status"] == "ok"
    assert body["meta"] == {
        "symbol": "AAPL",
        "interval": "5min",
        "currency": "USD",
        "exchange_timezone": "America/New_York",
        "exchange": "NASDAQ",
        "mic_code": "XNAS",
        "type": "Common Stock",
    }
    assert all(isinstance(value, str) for value in body["values"][0].values())


def test_pandas_frame_parses_the_served_strings(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(4))

    frame = client.time_series(symbol="AAPL", interval="1min", outputsize=4).as_pandas()

    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame["close"].iloc[0] == pytest.approx(190.30)
    assert str(frame.index[0]) == "2024-01-02 09:33:00"


def test_default_outputsize_is_30_and_dates_lift_it(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(40))

    undated = client.time_series(symbol="AAPL", interval="1min").as_json()
    dated = client.time_series(
        symbol="AAPL", interval="1min", start_date="2024-01-02 09:30:00", end_date="2024-01-02 09:40:00"
    ).as_json()

    assert len(undated) == 30
    assert undated[-1]["datetime"] == "2024-01-02 09:40:00"
    # end_date is exclusive: 09:30 .. 09:39.
    assert [row["datetime"] for row in dated][::9] == ["2024-01-02 09:39:00", "2024-01-02 09:30:00"]
    assert len(dated) == 10


def test_order_asc_and_utc_timezone(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(3))

    rows = client.time_series(symbol="AAPL", interval="1min", order="asc", timezone="UTC").as_json()

    assert [row["datetime"] for row in rows] == [
        "2024-01-02 14:30:00",
        "2024-01-02 14:31:00",
        "2024-01-02 14:32:00",
    ]


def test_start_date_is_read_in_the_requested_timezone(
    twelvedata: TwelveDataEmulator, client: TDClient
) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(5))

    rows = client.time_series(
        symbol="AAPL", interval="1min", timezone="UTC", start_date="2024-01-02 14:33:00"
    ).as_json()

    assert [row["datetime"] for row in rows] == ["2024-01-02 14:34:00", "2024-01-02 14:33:00"]


def test_daily_bars_are_dated_and_ignore_timezone(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars("MSFT", "1day", daily_rows(date(2024, 1, 5), [Decimal("370"), Decimal("372.5")]))

    rows = client.time_series(symbol="MSFT", interval="1day", timezone="Asia/Tokyo").as_json()

    assert [row["datetime"] for row in rows] == ["2024-01-08", "2024-01-05"]
    assert rows[0]["close"] == "372.50000"


def test_batch_form_answers_per_symbol_and_costs_one_credit_per_symbol(
    twelvedata: TwelveDataEmulator, client: TDClient
) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(2))
    twelvedata.seed_bars("MSFT", "1min", minute_rows(2, Decimal("370.00")))
    before = twelvedata.credits_used_this_minute

    raw = client.time_series(symbol="AAPL,MSFT,NOPE", interval="1min").price_endpoint.execute()
    parsed = client.time_series(symbol=["AAPL", "MSFT"], interval="1min").as_json()

    assert raw.headers["Is_batch"] == "true"
    body = raw.json()
    assert body["AAPL"]["status"] == "ok"
    assert body["MSFT"]["values"][0]["close"] == "370.10000"
    assert body["NOPE"]["status"] == "error"
    assert body["NOPE"]["code"] == 404
    assert set(parsed) == {"AAPL", "MSFT"}
    assert twelvedata.credits_used_this_minute - before == 3 + 2


def test_credits_run_out_with_http_429_and_come_back_next_minute(
    twelvedata: TwelveDataEmulator, client: TDClient
) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(2))
    spare = twelvedata.credits_per_minute - twelvedata.credits_used_this_minute
    for _ in range(spare):
        client.time_series(symbol="AAPL", interval="1min").as_json()

    with pytest.raises(TwelveDataError) as refused:
        client.time_series(symbol="AAPL", interval="1min").as_json()

    assert "run out of API credits for the current minute" in str(refused.value)
    assert "with the current limit being 8" in str(refused.value)
    assert twelvedata.credits_used_this_minute == 8
    twelvedata.advance_minute()
    assert len(client.time_series(symbol="AAPL", interval="1min").as_json()) == 2


def test_credits_exhausted_inside_http_200_is_still_an_error_for_the_sdk(
    twelvedata_server: EmulatorServer, client: TDClient
) -> None:
    emulator = TwelveDataEmulator(credits_per_minute=1, credits_exhausted_http_status=200)
    emulator.seed_bars("AAPL", "1min", minute_rows(1))
    with EmulatorServer(emulator.app) as server:
        tight = TDClient(apikey=emulator.api_key, base_url=server.base_url)
        tight.time_series(symbol="AAPL", interval="1min").as_json()

        raw = requests.get(
            f"{server.base_url}/time_series",
            params={"symbol": "AAPL", "interval": "1min", "apikey": emulator.api_key},
            timeout=5,
        )
        with pytest.raises(TwelveDataError, match="run out of API credits"):
            tight.time_series(symbol="AAPL", interval="1min").as_json()

    assert raw.status_code == 200
    assert raw.json()["code"] == 429
    assert raw.json()["status"] == "error"


@pytest.mark.parametrize("http_status", [429, 200])
def test_injected_credit_exhaustion_is_one_shot(
    twelvedata: TwelveDataEmulator, client: TDClient, http_status: int
) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(1))
    twelvedata.exhaust_credits_next(http_status=http_status, path="/time_series")

    with pytest.raises(TwelveDataError, match="run out of API credits"):
        client.time_series(symbol="AAPL", interval="1min").as_json()
    assert len(client.time_series(symbol="AAPL", interval="1min").as_json()) == 1


def test_wrong_key_is_401_invalid_api_key(twelvedata_server: EmulatorServer, client: TDClient) -> None:
    # `client` was built first: the SDK fetches /technical_indicators only on its first construction.
    stranger = TDClient(apikey="wrong", base_url=twelvedata_server.base_url)

    with pytest.raises(InvalidApiKeyError, match="apikey parameter is incorrect"):
        stranger.time_series(symbol="AAPL", interval="1min").as_json()
    raw = requests.get(f"{twelvedata_server.base_url}/api_usage", params={"apikey": "wrong"}, timeout=5)
    assert raw.status_code == 401
    assert raw.json() == {
        "code": 401,
        "message": "apikey parameter is incorrect or not specified",
        "status": "error",
    }


def test_errors_can_all_arrive_with_http_200() -> None:
    emulator = TwelveDataEmulator(errors_as_http_200=True)
    with EmulatorServer(emulator.app) as server:
        client = TDClient(apikey=emulator.api_key, base_url=server.base_url)
        stranger = TDClient(apikey="wrong", base_url=server.base_url)
        raw = requests.get(f"{server.base_url}/time_series", params={"apikey": "wrong"}, timeout=5)
        with pytest.raises(InvalidApiKeyError):
            stranger.time_series(symbol="AAPL", interval="1min").as_json()
        with pytest.raises(TwelveDataError, match="not found: AAPL"):
            client.time_series(symbol="AAPL", interval="1min").as_json()

    assert (raw.status_code, raw.json()["code"]) == (200, 401)


def test_authorization_header_is_accepted(
    twelvedata: TwelveDataEmulator, twelvedata_server: EmulatorServer
) -> None:
    raw = requests.get(
        f"{twelvedata_server.base_url}/api_usage",
        headers={"Authorization": f"apikey {twelvedata.api_key}"},
        timeout=5,
    )
    assert raw.status_code == 200


def test_server_error_is_internal_server_error(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(1))
    twelvedata.inject(Fault(status=503, path="/time_series"))

    with pytest.raises(InternalServerError):
        client.time_series(symbol="AAPL", interval="1min").as_json()


def test_delay_longer_than_the_client_timeout(
    twelvedata: TwelveDataEmulator, twelvedata_server: EmulatorServer, client: TDClient
) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(1))
    http_client = DefaultHttpClient(twelvedata_server.base_url)
    http_client.session.mount("http://", TimeoutAdapter(0.2))
    impatient = TDClient(
        apikey=twelvedata.api_key, base_url=twelvedata_server.base_url, http_client=http_client
    )
    twelvedata.inject(Fault(delay_seconds=0.6, path="/time_series"))

    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.time_series(symbol="AAPL", interval="1min").as_json()
    assert len(impatient.time_series(symbol="AAPL", interval="1min").as_json()) == 1


def test_malformed_values_are_served_verbatim(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars(
        "AAPL",
        "1min",
        [
            SeedBar(SESSION_OPEN, "NaN", "190.5", "190.1", "190.2", 10),
            SeedBar(SESSION_OPEN + timedelta(minutes=1), "190.2", "", "190.1", "190.3", ""),
            SeedBar(SESSION_OPEN + timedelta(minutes=2), "190.3", Decimal(189), Decimal(191), "190.4"),
        ],
    )

    rows = client.time_series(symbol="AAPL", interval="1min", order="asc").as_json()

    assert rows[0]["open"] == "NaN"
    assert rows[1]["high"] == ""
    assert rows[1]["volume"] == ""
    assert Decimal(rows[2]["high"]) < Decimal(rows[2]["low"])
    assert "volume" not in rows[2]


def test_out_of_order_rows_once(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(3))
    twelvedata.serve_out_of_order_next()

    broken = [row["datetime"] for row in client.time_series(symbol="AAPL", interval="1min").as_json()]
    healed = [row["datetime"] for row in client.time_series(symbol="AAPL", interval="1min").as_json()]

    assert broken != sorted(broken, reverse=True)
    assert sorted(broken) == sorted(healed)
    assert healed == sorted(healed, reverse=True)


def test_no_data_in_window_is_a_400(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars("AAPL", "1min", minute_rows(2))

    with pytest.raises(BadRequestError, match="No data is available"):
        client.time_series(symbol="AAPL", interval="1min", start_date="2030-01-01").as_json()


def test_unknown_symbol_and_bad_interval(client: TDClient) -> None:
    with pytest.raises(TwelveDataError, match="not found: ZZZZ"):
        client.time_series(symbol="ZZZZ", interval="1min").as_json()
    with pytest.raises(BadRequestError, match="interval"):
        client.time_series(symbol="AAPL", interval="3min").as_json()


def test_quote_and_price(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    twelvedata.seed_bars("MSFT", "1day", daily_rows(date(2024, 1, 2), [Decimal("370"), Decimal("374")]))

    quote = client.quote(symbol="MSFT").as_json()
    price = client.price(symbol="MSFT").as_json()

    assert quote["symbol"] == "MSFT"
    assert quote["datetime"] == "2024-01-03"
    assert quote["close"] == "374.00000"
    assert quote["previous_close"] == "370.00000"
    assert quote["change"] == "4.00000"
    assert Decimal(quote["percent_change"]) == (Decimal(4) / Decimal(370) * 100).quantize(Decimal("0.00001"))
    assert quote["fifty_two_week"]["low"] == "369.50000"
    assert price == {"price": "374.00000"}


def test_technical_indicators_and_api_usage(twelvedata: TwelveDataEmulator, client: TDClient) -> None:
    indicators = client.custom_endpoint(name="technical_indicators").as_json()
    usage_before = twelvedata.credits_used_this_minute

    usage = client.api_usage().as_json()

    assert indicators["macd"]["output_values"]["macd"]["default_color"] == "#FF0000"
    assert usage["plan_limit"] == 8
    assert usage["current_usage"] == usage_before + 1
    assert usage["timestamp"] == "2024-01-02 15:00:00"
    assert [r.path for r in twelvedata.requests].count("/technical_indicators") >= 1


CONSTRUCT_CLIENT = """
import sys
from twelvedata import TDClient
from twelvedata.exceptions import InvalidApiKeyError
try:
    TDClient(apikey=sys.argv[1], base_url=sys.argv[2])
except InvalidApiKeyError as error:
    print("InvalidApiKeyError:", error)
    sys.exit(3)
"""


@pytest.mark.parametrize(("use_right_key", "exit_code"), [(True, 0), (False, 3)])
def test_first_client_in_a_process_fetches_technical_indicators_and_pays_a_credit(
    twelvedata: TwelveDataEmulator, twelvedata_server: EmulatorServer, use_right_key: bool, exit_code: int
) -> None:
    # In-process the SDK caches this call for the life of the interpreter, so a fresh one shows it.
    key = twelvedata.api_key if use_right_key else "wrong"
    finished = subprocess.run(
        [sys.executable, "-c", CONSTRUCT_CLIENT, key, twelvedata_server.base_url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert finished.returncode == exit_code, finished.stderr
    assert [r.path for r in twelvedata.requests] == ["/technical_indicators"]
    assert twelvedata.credits_used_this_minute == (1 if use_right_key else 0)
