"""Notification channels behind the `Notifier` port: generic webhook, Slack, Gotify, e-mail, Telegram."""

from trader.adapters.notifications.email import EmailNotifier
from trader.adapters.notifications.errors import NotificationDeliveryError
from trader.adapters.notifications.gotify import GotifyNotifier
from trader.adapters.notifications.slack import SlackNotifier
from trader.adapters.notifications.telegram import TelegramNotifier
from trader.adapters.notifications.webhook import WebhookNotifier

__all__ = [
    "EmailNotifier",
    "GotifyNotifier",
    "NotificationDeliveryError",
    "SlackNotifier",
    "TelegramNotifier",
    "WebhookNotifier",
]
