"""Slack incoming webhook: a text fallback plus Block Kit blocks (header, message, detail fields)."""

from __future__ import annotations

from typing import Any

import httpx

from trader.adapters.notifications.http import post_json
from trader.core.ports import Notification

SEVERITY_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
MAX_FIELDS = 10  # Slack refuses a section with more


def _escaped(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(notification: Notification) -> dict[str, Any]:
    emoji = SEVERITY_EMOJI.get(notification.severity, "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": notification.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _escaped(notification.message)[:3000]}},
    ]
    if notification.details:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{_escaped(key)}*\n{_escaped(value)}"}
                    for key, value in notification.details[:MAX_FIELDS]
                ],
            }
        )
    context = f"{notification.severity} · {notification.kind} · {notification.occurred_at.isoformat()}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": f"{emoji} {notification.title}: {notification.message}".strip(), "blocks": blocks}


class SlackNotifier:
    def __init__(self, http: httpx.AsyncClient, webhook_url: str) -> None:
        self._http = http
        self._url = webhook_url

    @property
    def channel(self) -> str:
        return "slack"

    async def send(self, notification: Notification) -> None:
        await post_json(self._http, self.channel, self._url, slack_message(notification))
