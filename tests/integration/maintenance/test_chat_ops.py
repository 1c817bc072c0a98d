"""Chat ops: the maintenance service's Telegram bot (python-telegram-bot, long polling) against a
local emulator of the Bot API over loopback HTTP. Known chats are answered; any other chat is
refused, audited and not answered; /halt moves the trading state and is audited; notifications
reach the chats through the Telegram channel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from tests.emulators.server import EmulatorServer
from tests.emulators.telegram import TelegramEmulator
from trader.adapters.db.stores.audit import AuditStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.core.risk.state import TradingState
from trader.runtime.bootstrap import open_resources
from trader.services.common.resources import Resources
from trader.services.maintenance_service.app import create_app
from trader.settings import Settings

BOT_TOKEN = "7000001:emulated-token-for-tests"
OPERATOR_CHAT = 4242
STRANGER_CHAT = 999
API_TOKEN = "chat-ops-token-" + "z" * 30


def services_fake(cancel_calls: list[str]) -> FastAPI:
    """The other services at their HTTP boundary, as the bot reads them."""
    fake = FastAPI()

    @fake.post("/orders/cancel-all")
    async def cancel_all(request: Request) -> dict[str, Any]:
        cancel_calls.append(request.headers.get("authorization", ""))
        return {"canceled": 1, "errors": []}

    @fake.get("/positions")
    async def positions() -> list[dict[str, Any]]:
        return [
            {"symbol": "AAPL", "quantity": "10.000000000", "average_cost": "150.5", "unrealized_pnl": "12.3"}
        ]

    @fake.get("/risk/current-metrics")
    async def metrics() -> dict[str, Any]:
        return {
            "equity": "100012.30",
            "cash": "98507.30",
            "daily_pnl": "-45.1",
            "daily_return_pct": "-0.000451",
            "drawdown_pct": "0.0012",
            "peak_equity": "100100",
        }

    return fake


@pytest.fixture
def emulator() -> Iterator[tuple[TelegramEmulator, str]]:
    telegram = TelegramEmulator(BOT_TOKEN)
    with EmulatorServer(telegram.app) as server:
        yield telegram, server.base_url


@pytest.fixture
async def resources(
    tmp_path: Path, sqlite_url: str, emulator: tuple[TelegramEmulator, str]
) -> AsyncIterator[Resources]:
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        log_dir=tmp_path,
        api_token=API_TOKEN,
        allow_unauthenticated_loopback=False,
        telegram_bot_token=BOT_TOKEN,
        telegram_chat_ids=[OPERATOR_CHAT],
        telegram_api_url=emulator[1],
        telegram_poll_timeout_seconds=1,
    )
    async with open_resources(settings) as opened:
        yield opened


async def _wait(condition: Any, what: str, timeout_seconds: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _reply(telegram: TelegramEmulator, chat_id: int, count: int) -> str:
    await _wait(lambda: len(telegram.replies_to(chat_id)) >= count, f"reply #{count} to chat {chat_id}")
    return telegram.replies_to(chat_id)[count - 1]


async def test_bot_refuses_strangers_answers_operators_and_halts_with_an_audit(
    resources: Resources, emulator: tuple[TelegramEmulator, str]
) -> None:
    telegram, _ = emulator
    cancel_calls: list[str] = []
    await resources.http.aclose()
    resources.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=services_fake(cancel_calls)))
    app = create_app(resources)
    audit = AuditStore(resources.engine)
    states = TradingStateStore(resources.engine)
    async with app.router.lifespan_context(app):
        await _wait(lambda: "getUpdates" in telegram.methods_called(), "the bot to start polling")

        telegram.user_says(chat_id=STRANGER_CHAT, text="/halt let me in")
        await _wait(lambda: telegram.pending_updates() == 0, "the stranger's update to be consumed")
        refused = await _audit_entries(audit, "telegram.refused")
        assert [(entry.user_id, entry.success, entry.status_code) for entry in refused] == [
            (f"telegram:{STRANGER_CHAT}", False, 403)
        ]
        assert telegram.replies_to(STRANGER_CHAT) == []
        assert await states.current_state() is TradingState.ACTIVE

        telegram.user_says(chat_id=OPERATOR_CHAT, text="/positions")
        assert "AAPL 10 @ $150.50 · unrealised +$12.30" in await _reply(telegram, OPERATOR_CHAT, 1)
        telegram.user_says(chat_id=OPERATOR_CHAT, text="/pnl")
        assert (await _reply(telegram, OPERATOR_CHAT, 2)).startswith("Today -$45.10 (-0.05 %)")

        telegram.user_says(chat_id=OPERATOR_CHAT, text="/halt broker is misbehaving")
        # The reply, and the state change pushed as a notification through the Telegram channel,
        # in whichever order they arrive.
        await _reply(telegram, OPERATOR_CHAT, 4)
        reply, notice = sorted(telegram.replies_to(OPERATOR_CHAT)[2:4], key=lambda text: "🚨" in text)
        assert reply.startswith("Trading HALTED (was active): broker is misbehaving"), reply
        assert notice.startswith("🚨 Trading HALTED") and "by telegram:4242" in notice, notice
        assert await states.current_state() is TradingState.HALTED
        assert cancel_calls == [f"Bearer {API_TOKEN}"]
        (entry,) = await _audit_entries(audit, "telegram.halt")
        assert (entry.user_id, entry.success, entry.severity) == (
            f"telegram:{OPERATOR_CHAT}",
            True,
            "critical",
        )
        assert entry.details["reason"] == "broker is misbehaving"

        telegram.user_says(chat_id=OPERATOR_CHAT, text="/resume reducing checked the broker")
        assert (await _reply(telegram, OPERATOR_CHAT, 5)).startswith("Trading REDUCING (was halted)")
        assert await states.current_state() is TradingState.REDUCING

        health = await httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t").get(
            "/health"
        )
        assert health.json()["chat_ops"]["state"] == "running"
        assert BOT_TOKEN not in health.text


async def _audit_entries(audit: AuditStore, action: str) -> list[Any]:
    deadline = time.monotonic() + 10
    while True:
        entries = await audit.recent(action=action)
        if entries or time.monotonic() > deadline:
            return entries
        await asyncio.sleep(0.05)


async def test_a_wrong_token_is_reported_in_health_not_swallowed(
    tmp_path: Path, sqlite_url: str, emulator: tuple[TelegramEmulator, str]
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        log_dir=tmp_path,
        telegram_bot_token="7000001:not-the-token",
        telegram_chat_ids=[OPERATOR_CHAT],
        telegram_api_url=emulator[1],
    )
    async with open_resources(settings) as opened:
        app = create_app(opened)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            deadline = time.monotonic() + 15
            while True:
                chat_ops = (await http.get("/health")).json()["chat_ops"]
                if chat_ops["state"] == "failing" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
    assert chat_ops["state"] == "failing"
    assert "InvalidToken" in chat_ops["last_error"]
    assert "not-the-token" not in chat_ops["last_error"]
