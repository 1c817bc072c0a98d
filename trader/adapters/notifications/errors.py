from __future__ import annotations


class NotificationDeliveryError(Exception):
    """A channel did not take the notification. `retryable` says whether trying later can help
    (a time-out or a 5xx) or not (a 4xx: the URL, token or address is wrong; fix the settings)."""

    def __init__(self, channel: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{channel}: {message}")
        self.channel = channel
        self.retryable = retryable
