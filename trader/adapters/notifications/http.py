"""The one POST every HTTP channel makes, with its errors turned into `NotificationDeliveryError`."""

from __future__ import annotations

from typing import Any

import httpx

from trader.adapters.notifications.errors import NotificationDeliveryError

TIMEOUT_SECONDS = 10.0


async def post_json(
    http: httpx.AsyncClient,
    channel: str,
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    try:
        response = await http.post(url, json=payload, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.TimeoutException:
        raise NotificationDeliveryError(
            channel, f"no answer within {TIMEOUT_SECONDS}s", retryable=True
        ) from None
    except httpx.HTTPError as error:
        raise NotificationDeliveryError(channel, f"{type(error).__name__}: {error}", retryable=True) from None
    if response.is_success:
        return response
    raise NotificationDeliveryError(
        channel,
        f"HTTP {response.status_code}: {response.text[:300]}",
        retryable=response.status_code >= 500 or response.status_code == 429,
    )
