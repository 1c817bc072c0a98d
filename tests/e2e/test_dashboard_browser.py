"""The dashboard in headless Chromium on the embedded default: it loads, every panel and API call
works with no JavaScript error, it updates by itself, and the emergency button halts trading only
with a valid token. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from tests.backends import run_isolated, unavailable
from tests.e2e.system import REPOSITORY, RunningSystem, start
from trader.adapters.db.engine import create_engine
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.adapters.db.tables import account_snapshots
from trader.services.maintenance_service.dashboard.sources import SERVICE_SOURCES
from trader.settings import SERVICE_NAMES

pytestmark = pytest.mark.e2e

API_TOKEN = "dashboard-test-token-0123456789abcdefghij"
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", REPOSITORY / "artifacts" / "screenshots"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Panels read from the stores, not from another service.
STORE_PANELS = {
    "equity": "/api/dashboard/equity",
    "fills": "/api/dashboard/fills",
    "job-runs": "/api/dashboard/job-runs",
}
PANELS = {**STORE_PANELS, **{name: f"/api/dashboard/service/{name}" for name in SERVICE_SOURCES}}


def chromium_executable() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    unavailable("Chromium is not installed (apt-get install -y chromium chromium-driver)")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    workdir = tmp_path_factory.mktemp("dashboard")
    running = start(workdir, [["up"]], API_TOKEN=API_TOKEN, ALLOW_UNAUTHENTICATED_LOOPBACK="false")
    try:
        running.wait_healthy(timeout_seconds=60)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class PageWatch:
    """JavaScript errors, console errors and failed calls of one page: each is a test failure."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        self.calls: list[tuple[str, int]] = []
        page.on("pageerror", lambda error: self.problems.append(f"JavaScript error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.problems.append(f"console {message.type}: {message.text}")
                if message.type in ("error", "assert")
                else None
            ),
        )
        page.on("requestfailed", lambda request: self.problems.append(f"request failed: {request.url}"))
        page.on("response", lambda response: self.calls.append((response.url, response.status)))


def open_dashboard(browser: Any, system: RunningSystem) -> tuple[Any, PageWatch]:
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    watch = PageWatch(page)
    page.goto(f"{system.url('maintenance_service')}/?refresh=1")
    page.wait_for_selector("body[data-refreshes]", timeout=20_000)
    return page, watch


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def current_trading_state(system: RunningSystem) -> str:
    async def read() -> str:
        engine = create_engine(f"sqlite+aiosqlite:///{system.workdir / 'data' / 'trading_system.db'}")
        try:
            return (await TradingStateStore(engine).current_state()).value
        finally:
            await engine.dispose()

    return run_isolated(read)


def test_every_panel_and_api_call_works_without_javascript_errors(
    browser: Any, system: RunningSystem
) -> None:
    page, watch = open_dashboard(browser, system)
    try:
        screenshot(page, "dashboard_loaded")
        states = {
            name: (page.get_attribute(f'[data-panel="{name}"]', "data-state"),
                   page.text_content(f'[data-panel="{name}"] .panel-error'))
            for name in PANELS
        }  # fmt: skip
        broken = {name: error for name, (state, error) in states.items() if state != "ok"}
        assert not broken, f"panels showing an error: {broken}"
        origin = system.url("maintenance_service")
        called = {url.removeprefix(origin) for url, _ in watch.calls}
        assert set(PANELS.values()) <= called
        failed_calls = [(url, status) for url, status in watch.calls if status >= 400]
        assert not failed_calls
        assert not watch.problems, watch.problems
    finally:
        page.close()


def test_health_and_positions_are_shown_live(browser: Any, system: RunningSystem) -> None:
    page, watch = open_dashboard(browser, system)
    try:
        health = page.locator('[data-panel="status"] tbody tr')
        rows = {
            health.nth(index).get_attribute("data-service"): health.nth(index)
            .locator(".badge")
            .text_content()
            for index in range(health.count())
        }
        assert {name: rows[name] for name in SERVICE_NAMES} == dict.fromkeys(SERVICE_NAMES, "healthy")
        assert page.text_content("#overall") == "system healthy"
        # Positions: the panel shows as many rows as the executor reports. The system trades while
        # the page polls, so the two readings can straddle a fill: compare until a refresh agrees.
        deadline = time.monotonic() + 15
        while True:
            positions = httpx.get(f"{system.url('trade_executor')}/positions", timeout=5).json()
            listed = positions if isinstance(positions, list) else positions.get("positions", [])
            shown = page.locator('[data-panel="positions"] tbody tr').count()
            if shown == min(len(listed), 50) or time.monotonic() > deadline:
                break
            page.wait_for_timeout(500)
        assert shown == min(len(listed), 50)
        if not listed:
            assert page.text_content('[data-panel="positions"] .panel-body') == "Nothing yet."
        # Live: the page refreshes itself without a reload.
        first = int(page.get_attribute("body", "data-refreshes") or 0)
        page.wait_for_selector(f'body:not([data-refreshes="{first}"])', timeout=10_000)
        assert int(page.get_attribute("body", "data-refreshes") or 0) > first
        screenshot(page, "dashboard_live")
        assert not watch.problems, watch.problems
    finally:
        page.close()


def test_equity_curve_and_drawdown_are_drawn_from_the_snapshots(browser: Any, system: RunningSystem) -> None:
    equities = [Decimal("100000"), Decimal("110000"), Decimal("99000"), Decimal("104500")]
    started_at = datetime(2025, 3, 14, 14, 30, tzinfo=UTC)

    async def record() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{system.workdir / 'data' / 'trading_system.db'}")
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    insert(account_snapshots),
                    [
                        {
                            "timestamp": started_at + timedelta(minutes=index),
                            "cash": equity,
                            "equity": equity,
                            "gross_exposure": Decimal(0),
                            "net_exposure": Decimal(0),
                            "realized_pnl": Decimal(0),
                            "unrealized_pnl": Decimal(0),
                            "source": "browser-test",
                        }
                        for index, equity in enumerate(equities)
                    ],
                )
        finally:
            await engine.dispose()

    run_isolated(record)
    page, watch = open_dashboard(browser, system)
    try:
        panel = '[data-panel="equity"]'
        page.wait_for_selector(f"{panel} svg.chart polyline.equity")
        assert page.locator(f"{panel} svg.chart polygon.drawdown").count() == 1
        worst = min(equity / max(equities[: index + 1]) - 1 for index, equity in enumerate(equities))
        figures = page.text_content(f"{panel} .figures") or ""
        assert f"{worst * 100:.2f} %" in figures
        assert str(equities[-1]) in figures
        points = page.get_attribute(f"{panel} polyline.equity", "points") or ""
        # The running executor reads its simulated account into the same table (earlier, replayed
        # times): the curve holds those points too, and the seeded ones, the newest, at its end.
        assert len(points.split()) >= len(equities)
        screenshot(page, "dashboard_equity")
        assert not watch.problems, watch.problems
    finally:
        page.close()


def test_emergency_button_halts_trading_only_with_a_valid_token(browser: Any, system: RunningSystem) -> None:
    page, watch = open_dashboard(browser, system)
    try:
        assert current_trading_state(system) == "active"
        assert page.get_attribute("#trading-state-value", "data-state") == "active"
        assert page.is_hidden("#emergency-form")
        page.click("#emergency-open")
        page.fill("#emergency-reason", "browser test: wrong token")
        page.fill("#emergency-token", "not-the-token")
        with page.expect_response("**/maintenance/emergency-shutdown") as refused:
            page.click("#emergency-confirm")
        assert refused.value.status == 401
        page.wait_for_selector('#emergency-result[data-outcome="refused"]')
        assert "HTTP 401" in (page.text_content("#emergency-result") or "")
        assert page.input_value("#emergency-token") == ""
        screenshot(page, "emergency_refused")
        assert current_trading_state(system) == "active"

        page.fill("#emergency-reason", "browser test: valid token")
        page.fill("#emergency-token", API_TOKEN)
        with page.expect_response("**/maintenance/emergency-shutdown") as accepted:
            page.click("#emergency-confirm")
        assert accepted.value.status in (200, 207)
        page.wait_for_selector('#emergency-result[data-outcome="halted"]')
        assert "Trading halted (was active)" in (page.text_content("#emergency-result") or "")
        assert current_trading_state(system) == "halted"
        page.wait_for_selector('#trading-state-value[data-state="halted"]', timeout=10_000)
        assert page.get_attribute("#trading-badge", "data-state") == "halted"
        screenshot(page, "emergency_halted")
        # The refused attempt's 401 is the only expected console error.
        unexpected = [problem for problem in watch.problems if "401" not in problem]
        assert not unexpected, unexpected
    finally:
        page.close()
