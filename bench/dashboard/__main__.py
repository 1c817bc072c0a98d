"""The dashboard's weight and first render, with a week of one-minute data for 8 symbols.

`python -m bench.dashboard [--runs 5] [--bars 500]`

A fresh system (`trader up`, embedded default) on a database seeded with five sessions of
synthetic one-minute bars for the 8 watchlist symbols (15,600 bars), an account snapshot every
minute (1,950) and 80 fills; its live source is a closed loopback port, so nothing changes under
the measurement. Headless Chromium (Debian's) opens the page cold each run, showing the price
chart of AAPL at 1min, and we time from navigation to a usable page: every panel rendered once
and the price chart drawn. The page's weight is the bytes of every response it loaded.

Beside it, the floor of the same workload: an HTTP client fetching the same API answers the page
fetched, all at once. The page must show what the API answered (the chart's bar count and its fill
markers, the equity points); the ratio page/floor is printed. Goal: under 1 s to a usable page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.db.engine import create_engine
from trader.adapters.db.migrate import upgrade_database
from trader.adapters.db.stores.market_data import MarketDataStore
from trader.adapters.db.tables import account_snapshots, fills, trades
from trader.adapters.replay.synthetic import generate_minute_bars
from trader.settings import SERVICE_NAMES

SYMBOLS = ["AAPL", "MSFT", "IBM", "GOOG", "AMZN", "JPM", "XOM", "JNJ"]
WEEK = (date(2024, 3, 4), date(2024, 3, 8))
FILLS = 80


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def seed(url: str) -> int:
    sessions = XNYSCalendar().sessions_between(*WEEK)
    bars = generate_minute_bars(SYMBOLS, sessions)
    engine = create_engine(url)
    try:
        await MarketDataStore(engine).upsert_bars(bars)
        aapl = [bar for bar in bars if bar.symbol == "AAPL"]
        zero = Decimal(0)
        snapshots = [
            {"timestamp": bar.timestamp, "cash": Decimal(100_000) + bar.close,
             "equity": Decimal(99_000) + 8 * bar.close, "gross_exposure": zero, "net_exposure": zero,
             "realized_pnl": zero, "unrealized_pnl": zero, "source": "bench"}
            for bar in aapl
        ]  # fmt: skip
        async with engine.begin() as connection:
            await connection.execute(insert(account_snapshots), snapshots)
            for index in range(FILLS):
                bar = aapl[(index * len(aapl)) // FILLS]
                side = "buy" if index % 2 == 0 else "sell"
                trade_id = (
                    await connection.execute(
                        insert(trades).values(
                            client_order_id=f"bench-aapl-{index}", broker="simulated", symbol="AAPL",
                            side=side, order_type="market", time_in_force="day", quantity=Decimal(10),
                            status="filled", filled_quantity=Decimal(10), average_fill_price=bar.close,
                            timestamp=bar.timestamp, updated_at=bar.timestamp,
                        )
                    )
                ).inserted_primary_key[0]  # fmt: skip
                await connection.execute(
                    insert(fills).values(
                        trade_id=trade_id, execution_id=f"bench-{index}", symbol="AAPL", side=side,
                        quantity=Decimal(10), price=bar.close, timestamp=bar.timestamp + timedelta(seconds=5),
                    )
                )  # fmt: skip
    finally:
        await engine.dispose()
    return len(bars)


class System:
    def __init__(self, workdir: Path) -> None:
        self.ports = {service: free_port() for service in SERVICE_NAMES}
        environment = {key: value for key, value in os.environ.items() if not key.endswith("_PORT")}
        environment.update(
            {f"{service.upper()}_PORT": str(port) for service, port in self.ports.items()},
            ENVIRONMENT="development", DATA_DIR=str(workdir / "data"), LOG_DIR=str(workdir / "logs"),
            DATABASE_URL="", REDIS_URL="", MARKET_DATA_SOURCE="twelvedata", DATA_BASE_TIMEFRAME="1min",
            TWELVE_DATA_API_KEY="bench-nothing-answers", TWELVE_DATA_BASE_URL="http://127.0.0.1:9",
        )  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trader.cli", "up"], cwd=workdir, env=environment,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def wait_healthy(self, timeout_seconds: float = 90) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            try:
                if all(
                    httpx.get(self.url(name) + "/health", timeout=2).status_code == 200 for name in self.ports
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit("the system did not become healthy")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def page_run(browser: Any, url: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # a cold cache every run
    page = context.new_page()
    loaded: list[tuple[str, int]] = []

    def keep(response: Any) -> None:
        try:
            loaded.append((response.url, len(response.body())))
        except Exception:  # a redirect or aborted body has no bytes to count
            loaded.append((response.url, 0))

    page.on("response", keep)
    page.goto(url)
    page.wait_for_selector('body[data-refreshes="1"]', timeout=60_000)
    page.wait_for_selector('#price-chart[data-chart="candles"]', timeout=60_000)
    usable_ms = page.evaluate("performance.now()")
    shown = page.evaluate(
        """() => ({ markers: TraderCharts.markersOf(document.getElementById('price-chart'))
                      .filter((marker) => marker.id.startsWith('fill:')).length })"""
    )
    context.close()
    return {"usable_ms": usable_ms, "loaded": loaded, "shown": shown}


async def floor_run(urls: list[str]) -> tuple[float, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        answers = await asyncio.gather(*(client.get(url) for url in urls))
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, {url: answer for url, answer in zip(urls, answers, strict=True)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--bars", type=int, default=0, help="bars on the price chart (0: the page's default, 500)"
    )
    arguments = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    (workdir / "data").mkdir()
    url = f"sqlite+aiosqlite:///{workdir / 'data' / 'trading_system.db'}"
    upgrade_database(url)
    stored = asyncio.run(seed(url))
    print(
        f"seeded {stored:,} one-minute bars of {len(SYMBOLS)} symbols, {FILLS} fills, snapshots every minute"
    )
    system = System(workdir)
    try:
        system.wait_healthy()
        query = "?refresh=600&symbol=AAPL&timeframe=1min" + (
            f"&bars={arguments.bars}" if arguments.bars else ""
        )
        page_url = system.url("maintenance_service") + "/" + query
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise SystemExit("Debian's chromium is needed: apt-get install -y chromium")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--headless", "--no-sandbox"]
            )
            page_run(browser, page_url)  # warm the services' first-request paths once
            runs = [page_run(browser, page_url) for _ in range(arguments.runs)]
            browser.close()
        origin = system.url("maintenance_service")
        api = sorted({address for address, _ in runs[-1]["loaded"] if "/api/" in address})
        floors = [asyncio.run(floor_run(api)) for _ in range(arguments.runs)]
        chart_answer = next(
            answer for address, answer in floors[-1][1].items() if "/api/dashboard/chart" in address
        )
        chart = chart_answer.json()
        expected_fills = sum(1 for marker in chart["markers"] if marker["kind"] == "fill")
        if runs[-1]["shown"]["markers"] != expected_fills:
            print(
                f"MISMATCH: the page drew {runs[-1]['shown']['markers']} fills, "
                f"the API answered {expected_fills}"
            )
            return 1
        weights = runs[-1]["loaded"]
        static = sum(
            size
            for address, size in weights
            if "/dashboard/assets/" in address
            or address.rstrip("/") + "/" == origin + "/"
            or address.startswith(page_url)
        )
        data = sum(size for address, size in weights if "/api/" in address)
        page_ms = statistics.median(run["usable_ms"] for run in runs)
        floor_ms = statistics.median(elapsed for elapsed, _ in floors)
        print(f"{'':34}{'median':>10}{'min':>10}{'max':>10}")
        usable = [run["usable_ms"] for run in runs]
        print(f"{'page: navigation -> usable (ms)':34}{page_ms:10.0f}{min(usable):10.0f}{max(usable):10.0f}")
        print(f"{'floor: same API answers (ms)':34}{floor_ms:10.0f}{min(e for e, _ in floors):10.0f}"
              f"{max(e for e, _ in floors):10.0f}")  # fmt: skip
        print(
            f"ratio page/floor: {page_ms / floor_ms:.2f}x   "
            f"goal < 1000 ms: {'met' if page_ms < 1000 else 'NOT met'} "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
        print(f"page weight: {static / 1024:.0f} KiB page and scripts + {data / 1024:.0f} KiB data "
              f"({len(weights)} responses, {len(api)} API calls)")  # fmt: skip
        print(
            f"chart: {len(chart['bars'])} bars, {expected_fills} fills drawn at their bars (equal to the API)"
        )
        return 0
    finally:
        system.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
