"""Generic webhook: the notification as a JSON document, POSTed to one URL."""

from __future__ import annotations

from typing import Any

import httpx

from trader.adapters.notifications.http import post_json
from trader.core.ports import Notification


def notification_document(notification: Notification) -> dict[str, Any]:
    return {
        "kind": notification.kind,
        "title": notification.title,
        "message": notification.message,
        "severity": notification.severity,
        "occurred_at": notification.occurred_at.isoformat(),
        "details": dict(notification.details),
        "source": "full-ai-trader",
    }


class WebhookNotifier:
    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url

    @property
    def channel(self) -> str:
        return "webhook"

    async def send(self, notification: Notification) -> None:
        await post_json(self._http, self.channel, self._url, notification_document(notification))
