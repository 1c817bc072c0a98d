"""Telegram: the notification as a message to each configured chat, through python-telegram-bot.

`bot_for` builds the one `telegram.Bot` the maintenance service shares between this channel and
its chat-ops bot; `TELEGRAM_API_URL` points it at another Bot API server (a local one, or tests').
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut

from trader.adapters.notifications.errors import NotificationDeliveryError
from trader.core.ports import Notification

SEVERITY_MARK = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}
MAX_MESSAGE = 4096  # Telegram's limit for one message's text


def bot_for(token: str, api_url: str = "") -> Bot:
    if not api_url:
        return Bot(token)
    base = api_url.rstrip("/")
    return Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")


def notification_text(notification: Notification) -> str:
    lines = [
        f"{SEVERITY_MARK.get(notification.severity, '')} {notification.title}".strip(),
        notification.message,
        *(f"{key}: {value}" for key, value in notification.details if value),
    ]
    return "\n".join(lines)[:MAX_MESSAGE]


class TelegramNotifier:
    def __init__(self, bot: Bot, chat_ids: Sequence[int]) -> None:
        self._bot = bot
        self._chat_ids = tuple(chat_ids)

    @property
    def channel(self) -> str:
        return "telegram"

    async def send(self, notification: Notification) -> None:
        text = notification_text(notification)
        failures = []
        retryable = False
        for chat_id in self._chat_ids:
            try:
                await self._bot.send_message(chat_id=chat_id, text=text)
            except (TimedOut, NetworkError, RetryAfter) as error:
                failures.append(f"chat {chat_id}: {type(error).__name__}: {error}")
                retryable = True
            except TelegramError as error:
                # A refused token or a chat the bot cannot write to: only the settings can fix it.
                failures.append(f"chat {chat_id}: {type(error).__name__}: {error}")
        if failures:
            raise NotificationDeliveryError(self.channel, "; ".join(failures), retryable=retryable)
