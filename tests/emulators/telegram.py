"""A local emulator of the Telegram Bot API (the methods python-telegram-bot's polling bot uses).

    emulator = TelegramEmulator(token="123:abc")
    with EmulatorServer(emulator.app) as server:  # TELEGRAM_API_URL=server.base_url
        emulator.user_says(chat_id=42, text="/status")
        reply = emulator.wait_for_reply(chat_id=42)

Built from the Bot API documentation (https://core.telegram.org/bots/api): requests are
`POST /bot<token>/<method>` with form-encoded or JSON parameters (python-telegram-bot sends form
fields whose non-string values are JSON), answers are `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": ..., "description": ...}`. getUpdates long-polls: it answers as soon
as an update at or after `offset` exists, or with [] after `timeout` seconds; asking with an
offset confirms (forgets) every earlier update. A wrong token is 401 Unauthorized, as Telegram
answers; an unknown method 404.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

BOT_ID = 7_000_001


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(code: int, description: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error_code": code, "description": description}, status_code=code)


def _value(raw: Any) -> Any:
    """A form field as the Bot API reads it: JSON when it parses, else the plain string."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class TelegramEmulator:
    def __init__(self, token: str, *, username: str = "trader_test_bot") -> None:
        self.token = token
        self.username = username
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id = 1
        self._lock = threading.Lock()
        self.app = FastAPI()
        self.app.post("/bot{token}/{method}")(self._dispatch)
        self.app.get("/bot{token}/{method}")(self._dispatch)

    # ------------------------------------------------------------------ what tests do

    def user_says(
        self, *, chat_id: int, text: str, user_id: int | None = None, username: str = "operator"
    ) -> int:
        """A private-chat message from a user, as the next update; returns its update_id."""
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
            message_id = self._next_message_id
            self._next_message_id += 1
            sender = {"id": user_id or chat_id, "is_bot": False, "first_name": username, "username": username}
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": username, "username": username},
                "from": sender,
                "text": text,
            }
            if text.startswith("/"):
                length = len(text.split()[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            self._updates.append({"update_id": update_id, "message": message})
        return update_id

    def replies_to(self, chat_id: int) -> list[str]:
        with self._lock:
            return [message["text"] for message in self.sent if message["chat"]["id"] == chat_id]

    def wait_for_reply(self, chat_id: int, *, count: int = 1, timeout_seconds: float = 15.0) -> str:
        """The `count`-th message the bot sent to `chat_id`, waiting for it."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            replies = self.replies_to(chat_id)
            if len(replies) >= count:
                return replies[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no reply #{count} to chat {chat_id} within {timeout_seconds}s: {self.sent}")

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)

    def methods_called(self) -> list[str]:
        with self._lock:
            return [method for method, _ in self.calls]

    # ------------------------------------------------------------------ the Bot API

    async def _parameters(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
            return dict(body) if isinstance(body, dict) else {}
        # python-telegram-bot posts x-www-form-urlencoded fields (files, which it would send as
        # multipart, are not emulated).
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        parameters = {key: value if key == "text" else _value(value) for key, value in form}
        parameters.update({key: _value(value) for key, value in request.query_params.items()})
        return parameters

    async def _dispatch(self, token: str, method: str, request: Request) -> JSONResponse:
        if token != self.token:
            return _error(401, "Unauthorized")
        parameters = await self._parameters(request)
        with self._lock:
            self.calls.append((method, parameters))
        handler = {
            "getMe": self._get_me,
            "deleteWebhook": self._true,
            "setMyCommands": self._true,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
        }.get(method)
        if handler is None:
            return _error(404, "Not Found")
        return await handler(parameters)

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "trader test bot",
            "username": self.username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_me(self, _parameters: dict[str, Any]) -> JSONResponse:
        return _ok(self._bot_user())

    async def _true(self, _parameters: dict[str, Any]) -> JSONResponse:
        return _ok(True)

    def _take(self, offset: int | None, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            if offset is not None:
                self._updates = [update for update in self._updates if update["update_id"] >= offset]
            return self._updates[:limit]

    async def _get_updates(self, parameters: dict[str, Any]) -> JSONResponse:
        offset = parameters.get("offset")
        limit = int(parameters.get("limit") or 100)
        timeout = float(parameters.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        while True:
            found = self._take(int(offset) if offset is not None else None, limit)
            if found or time.monotonic() >= deadline:
                return _ok(found)
            await asyncio.sleep(0.02)

    async def _send_message(self, parameters: dict[str, Any]) -> JSONResponse:
        text = parameters.get("text")
        chat_id = parameters.get("chat_id")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        if not isinstance(chat_id, int):
            return _error(400, "Bad Request: chat not found")
        with self._lock:
            message_id = self._next_message_id
            self._next_message_id += 1
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": self._bot_user(),
                "text": text,
            }
            self.sent.append(message)
        return _ok(message)
