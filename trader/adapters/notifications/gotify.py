"""Gotify: POST {url}/message with the application token in the X-Gotify-Key header."""

from __future__ import annotations

import httpx

from trader.adapters.notifications.http import post_json
from trader.core.ports import Notification

# Gotify priorities run 0..10; clients alert loudly from 8 up.
PRIORITY = {"info": 2, "warning": 5, "critical": 8}


class GotifyNotifier:
    def __init__(self, http: httpx.AsyncClient, base_url: str, application_token: str) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/message"
        self._token = application_token

    @property
    def channel(self) -> str:
        return "gotify"

    async def send(self, notification: Notification) -> None:
        lines = [notification.message, *(f"{key}: {value}" for key, value in notification.details)]
        payload = {
            "title": notification.title,
            "message": "\n".join(lines),
            "priority": PRIORITY.get(notification.severity, 5),
            "extras": {"client::display": {"contentType": "text/plain"}, "trader::kind": notification.kind},
        }
        await post_json(self._http, self.channel, self._url, payload, headers={"X-Gotify-Key": self._token})
