"""The Telegram bot: long polling through python-telegram-bot inside the maintenance service.

Only chats listed in TELEGRAM_CHAT_IDS get answers; a message from any other chat is logged,
audited and left unanswered (a stranger learns nothing, not even that the bot listens). /halt
and /resume go through the same use cases as the HTTP endpoints and are audited with the chat.
The worker keeps trying with a growing pause when Telegram cannot be reached, and says so in the
maintenance service's /health.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from trader.adapters.db.stores.audit import AuditEntry, AuditStore
from trader.adapters.notifications.telegram import MAX_MESSAGE, bot_for
from trader.core.risk.state import StateChangeError, TradingState
from trader.services.common.resources import Resources
from trader.services.maintenance_service.chatops import replies
from trader.services.maintenance_service.dashboard.sources import fetch_source
from trader.services.maintenance_service.handlers import (
    emergency_shutdown_system,
    resume_trading,
    system_status,
    trading_state,
)

log = logging.getLogger(__name__)
SERVICE = "maintenance_service"
FIRST_RETRY_SECONDS = 5.0
LONGEST_RETRY_SECONDS = 300.0
Reply = Callable[[int, str], Awaitable[str]]


class RedactToken(logging.Filter):
    """The Bot API puts the token in every URL; no log line may carry it."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<telegram-token>"), ()
        return True


class ChatOps:
    def __init__(self, resources: Resources) -> None:
        token = resources.settings.telegram_bot_token
        if token is None:
            raise ValueError("chat ops need TELEGRAM_BOT_TOKEN")
        self._resources = resources
        self._token = token.get_secret_value()
        self._allowed = frozenset(resources.settings.telegram_chat_ids)
        self._audit = AuditStore(resources.engine)
        self.state = "starting"
        self.last_error: str | None = None
        self.bot_username: str | None = None
        self._commands: dict[str, Reply] = {
            "/status": self._status,
            "/positions": self._positions,
            "/pnl": self._pnl,
            "/orders": self._orders,
            "/halt": self._halt,
            "/resume": self._resume,
            "/help": self._help,
            "/start": self._help,
        }

    async def health(self) -> dict[str, Any]:
        return {
            "chat_ops": {
                "channel": "telegram",
                "state": self.state,
                "bot": self.bot_username,
                "allowed_chats": len(self._allowed),
                "last_error": self.last_error,
            }
        }

    async def run(self) -> None:
        """The service worker: serve until cancelled, retrying with a growing pause on failure."""
        redaction = RedactToken(self._token)
        for handler in logging.getLogger().handlers:
            handler.addFilter(redaction)
        pause = FIRST_RETRY_SECONDS
        while True:
            started = time.monotonic()
            try:
                await self._serve()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # reported in /health and the log; the loop tries again
                self.state = "failing"
                self.last_error = f"{type(error).__name__}: {error}".replace(self._token, "<telegram-token>")
                log.error("Telegram chat ops stopped: %s; retrying in %.0fs", self.last_error, pause)
            if time.monotonic() - started > LONGEST_RETRY_SECONDS:
                pause = FIRST_RETRY_SECONDS
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_RETRY_SECONDS)

    async def _serve(self) -> None:
        settings = self._resources.settings
        application: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder().bot(bot_for(self._token, settings.telegram_api_url)).build()
        )
        application.add_handler(MessageHandler(filters.ALL, self._on_message))
        await application.initialize()  # getMe: a wrong token fails here, loudly
        try:
            assert application.updater is not None
            await application.updater.start_polling(
                poll_interval=0.0,
                timeout=settings.telegram_poll_timeout_seconds,
                allowed_updates=[Update.MESSAGE],
            )
            await application.start()
            self.bot_username = application.bot.username
            self.state, self.last_error = "running", None
            log.info("Telegram chat ops running as @%s for %d chat(s)", self.bot_username, len(self._allowed))
            await asyncio.Event().wait()
        finally:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
            await application.shutdown()

    async def _on_message(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        command = (message.text or "").split(maxsplit=1)[0].split("@")[0].lower() if message.text else ""
        argument = (message.text or "").partition(" ")[2].strip()
        if chat.id not in self._allowed:
            log.warning("Telegram: refused %r from chat %s (not in TELEGRAM_CHAT_IDS)", command, chat.id)
            await self._record(chat.id, command or "(message)", success=False, status=403, severity="warning")
            return
        reply = self._commands.get(command, self._unknown)
        try:
            text = await reply(chat.id, argument)
        except Exception as error:  # told to the operator who asked, and logged with its traceback
            log.exception("Telegram command %s failed", command)
            text = f"{command} failed: {type(error).__name__}: {error}"
        await message.reply_text(text[:MAX_MESSAGE])

    async def _record(
        self,
        chat_id: int,
        command: str,
        *,
        success: bool,
        status: int,
        severity: str,
        details: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        refused = "refused: chat not in TELEGRAM_CHAT_IDS" if status == 403 else None
        entry = AuditEntry(
            timestamp=datetime.now(UTC),
            action=f"telegram{command.replace('/', '.')}" if success or status != 403 else "telegram.refused",
            service_name=SERVICE,
            success=success,
            user_id=f"telegram:{chat_id}",
            resource=command,
            method="TELEGRAM",
            status_code=status,
            error_message=error or refused,
            severity=severity,
            details={"chat_id": chat_id, **(details or {})},
        )
        try:
            await self._audit.record(entry)
        except Exception:  # the operator must hear about a gap in the audit trail
            log.exception("could not audit the Telegram command %s from chat %s", command, chat_id)

    # ------------------------------------------------------------------ commands

    async def _read(self, source: str) -> Any:
        fetched = await fetch_source(self._resources.http, self._resources.settings, source)
        if not fetched.ok:
            raise LookupError(fetched.payload.get("error", f"could not read {source}"))
        return fetched.payload

    async def _status(self, _chat_id: int, _argument: str) -> str:
        system = await system_status(self._resources)
        state = await trading_state(self._resources)
        try:
            metrics = await self._read("risk-metrics")
        except LookupError:
            metrics = None
        return replies.status_text(system, state, metrics)

    async def _positions(self, _chat_id: int, _argument: str) -> str:
        return replies.positions_text(await self._read("positions"))

    async def _pnl(self, _chat_id: int, _argument: str) -> str:
        return replies.pnl_text(await self._read("risk-metrics"), await self._read("positions"))

    async def _orders(self, _chat_id: int, _argument: str) -> str:
        return replies.orders_text(await self._read("orders"))

    async def _halt(self, chat_id: int, argument: str) -> str:
        reason = argument or "halted from Telegram"
        result = await emergency_shutdown_system(
            self._resources, reason=reason, changed_by=f"telegram:{chat_id}"
        )
        failed = [name for name, step in result["steps"].items() if not step["ok"]]
        await self._record(
            chat_id,
            "/halt",
            success=True,
            status=200 if not failed else 207,
            severity="critical",
            details={"reason": reason, "previous_state": result["previous_state"]},
            error=("halted; failed steps: " + ", ".join(failed)) if failed else None,
        )
        return replies.state_change_text(result)

    async def _resume(self, chat_id: int, argument: str) -> str:
        first, _, rest = argument.partition(" ")
        target = (
            TradingState.REDUCING if first.lower() == TradingState.REDUCING.value else TradingState.ACTIVE
        )
        reason = rest.strip() if first.lower() in ("reducing", "active") else argument
        if not reason:
            return "Say why: /resume [reducing] <reason>"
        try:
            result = await resume_trading(
                self._resources, reason=reason, changed_by=f"telegram:{chat_id}", target=target
            )
        except StateChangeError as error:
            await self._record(
                chat_id, "/resume", success=False, status=409, severity="warning", error=str(error)
            )
            return f"Not resumed: {error}"
        await self._record(
            chat_id, "/resume", success=True, status=200, severity="warning", details={"reason": reason}
        )
        return replies.state_change_text(result)

    async def _help(self, _chat_id: int, _argument: str) -> str:
        return replies.HELP

    async def _unknown(self, _chat_id: int, _argument: str) -> str:
        return "Unknown command.\n" + replies.HELP
