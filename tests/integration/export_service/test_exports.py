"""Export service over a seeded history on SQLite and PostgreSQL: files, filters, jobs, reports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.export_service.seed import DAY, seed_history
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.clock import WallClock
from trader.adapters.db.stores.audit import AuditStore
from trader.services.common.resources import Resources
from trader.services.export_service.app import create_app
from trader.settings import Settings

TOKEN = "export-token-" + "e" * 30
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def http(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    await seed_history(engine)
    settings = Settings(
        _env_file=None,
        export_dir=tmp_path / "exports",
        api_token=TOKEN,
        allow_unauthenticated_loopback=False,
    )
    async with httpx.AsyncClient() as outbound:
        resources = Resources(settings, engine, InMemoryBus(), WallClock(), outbound)
        app = create_app(resources)
        transport = httpx.ASGITransport(app=app, client=("192.168.1.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def _export(http: httpx.AsyncClient, **body: object) -> dict[str, object]:
    response = await http.post("/exports", headers=AUTH, json=body)
    assert response.status_code == 201, response.text
    job: dict[str, object] = response.json()
    assert job["status"] == "succeeded"
    return job


async def _download(http: httpx.AsyncClient, job: dict[str, object]) -> bytes:
    response = await http.get(f"/exports/{job['id']}/download")
    assert response.status_code == 200
    return response.content


async def test_market_data_as_csv_json_and_parquet_filtered_by_symbol_and_dates(
    http: httpx.AsyncClient,
) -> None:
    window = {"start": (DAY + timedelta(days=2)).isoformat(), "end": (DAY + timedelta(days=5)).isoformat()}
    csv_job = await _export(http, kind="market_data", format="csv", symbols=["msft"], **window)
    rows = list(csv.DictReader(io.StringIO((await _download(http, csv_job)).decode())))
    assert [(row["symbol"], Decimal(row["open_price"])) for row in rows] == [
        ("MSFT", Decimal(302)),
        ("MSFT", Decimal(303)),
        ("MSFT", Decimal(304)),
    ]
    assert Decimal(rows[0]["close_price"]) == Decimal("302.12345678")
    assert csv_job["row_count"] == 3

    json_job = await _export(http, kind="market_data", format="json", symbols=["AAPL"], **window)
    records = json.loads(await _download(http, json_job))
    assert [record["close_price"] for record in records] == ["102.12345678", "103.12345678", "104.12345678"]

    parquet_job = await _export(http, kind="market_data", format="parquet", **window)
    table = pq.read_table(io.BytesIO(await _download(http, parquet_job)))
    assert table.num_rows == 6
    assert str(table.schema.field("close_price").type) == "decimal128(20, 8)"
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert Decimal("302.12345678") in table.column("close_price").to_pylist()


async def test_every_export_is_a_recorded_job_listed_newest_first(http: httpx.AsyncClient) -> None:
    for kind in ("orders", "trades", "fills", "positions", "signals", "risk_decisions"):
        await _export(http, kind=kind, format="csv")
    listed = (await http.get("/exports")).json()
    assert [job["kind"] for job in listed] == [
        "risk_decisions",
        "signals",
        "positions",
        "fills",
        "trades",
        "orders",
    ]
    counts = {job["kind"]: job["row_count"] for job in listed}
    assert counts == {"orders": 3, "trades": 3, "fills": 3, "positions": 1, "signals": 0, "risk_decisions": 0}
    assert all(job["requested_by"] == "api_token" and job["byte_count"] > 0 for job in listed)
    executions = list(csv.DictReader(io.StringIO((await _download(http, listed[4])).decode())))
    assert [row["order_client_order_id"] for row in executions] == ["c-1", "c-2", "c-3"]
    assert {row["order_strategy_name"] for row in executions} == {"momentum"}


async def test_tax_lots_are_fifo_with_commissions(http: httpx.AsyncClient) -> None:
    job = await _export(http, kind="tax_lots", format="json")
    lots = json.loads(await _download(http, job))
    # Sell 12 @120 (fee 1) closes 10 @100 (fee 1) then 2 of 5 @110 (fee 1, 2/5 of it used).
    assert [(lot["quantity"], lot["term"], lot["direction"]) for lot in lots] == [
        ("10.000000000", "short", "long"),
        ("2.000000000", "short", "long"),
    ]
    first, second = (Decimal(lot["gain"]) for lot in lots)
    sell_fee_share = Decimal(1) * 10 / 12
    assert first == (10 * Decimal(120) - sell_fee_share) - (10 * Decimal(100) + 1)
    assert abs(
        second - ((2 * Decimal(120) - Decimal(1) * 2 / 12) - (2 * Decimal(110) + Decimal("0.4")))
    ) < Decimal("0.00000001")


async def test_tradenote_csv_follows_the_template(http: httpx.AsyncClient) -> None:
    job = await _export(http, kind="tradenote")
    assert job["format"] == "csv"
    rows = list(csv.reader(io.StringIO((await _download(http, job)).decode())))
    assert rows[0][:10] == [
        "Account",
        "T/D",
        "S/D",
        "Currency",
        "Type",
        "Side",
        "Symbol",
        "Qty",
        "Price",
        "Exec Time",
    ]
    assert [(row[5], row[7], row[8]) for row in rows[1:]] == [
        ("B", "10", "100"),
        ("B", "5", "110"),
        ("S", "12", "120"),
    ]
    # 14:31 UTC on 4 March 2024 is 09:31 in New York (EST).
    assert (rows[1][1], rows[1][9]) == ("03/04/2024", "09:31:00")
    assert Decimal(rows[3][17]) == Decimal(1440) and Decimal(rows[3][18]) == Decimal(1439)


async def test_performance_report_and_daily_summary(http: httpx.AsyncClient) -> None:
    job = await _export(http, kind="performance_report")
    page = (await _download(http, job)).decode()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2 and 'id="monthly-returns"' in page and 'id="strategies"' in page
    assert "momentum" in page and "-10.00%" in page  # drawdown from 110000 to 99000
    # Beside it, buy-and-hold of the symbol traded (AAPL) from the first snapshot's equity: bought at
    # the second bar's open (101) plus the default 5 bps, held to the last close (109.12345678).
    price = 101 * 1.0005
    quantity = 100_000 // price
    held = 100_000 - quantity * price + quantity * 109.12345678
    assert "Buy and hold: symbols</th><td>AAPL" in page
    assert f"Buy and hold: end equity</th><td>{held:,.2f}" in page
    assert "dashed: buy and hold, same costs" in page

    day = (DAY + timedelta(days=40)).date().isoformat()
    summary = (await http.get("/reports/daily-summary", params={"day": day})).json()
    assert summary["fills"]["count"] == 1 and summary["orders"]["by_status"] == {"filled": 1}
    # (1200 - 10/12 - 1001) + (240 - 2/12 - 220.4) = 198.1667 + 19.4333
    assert Decimal(summary["realised_pnl"]) == Decimal("217.60")
    recorded = await _export(http, kind="daily_summary", start=f"{day}T00:00:00Z")
    assert json.loads(await _download(http, recorded)) == summary


async def test_exports_need_a_token_and_bad_requests_are_422(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    anonymous = await http.post("/exports", json={"kind": "orders"})
    wrong = await http.post("/exports", json={"kind": "orders"}, headers={"Authorization": "Bearer x"})
    html_orders = await http.post("/exports", headers=AUTH, json={"kind": "orders", "format": "html"})
    backwards = await http.post(
        "/exports",
        headers=AUTH,
        json={"kind": "orders", "start": "2024-02-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
    )
    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert (html_orders.status_code, backwards.status_code) == (422, 422)
    assert (await http.get("/exports")).json() == []
    calls = [e for e in await AuditStore(engine).recent() if e.action == "POST /exports"]
    assert sorted(e.status_code or 0 for e in calls) == [401, 401, 422, 422]
    assert not any(e.success for e in calls)
