"""E-mail over SMTP (stdlib smtplib, run in a thread): STARTTLS when asked, login when a user is set."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from trader.adapters.notifications.errors import NotificationDeliveryError
from trader.core.ports import Notification

TIMEOUT_SECONDS = 15.0


def email_message(notification: Notification, sender: str, recipients: Sequence[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[trader {notification.severity}] {notification.title}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(notification.occurred_at)
    message["Message-ID"] = make_msgid(domain="full-ai-trader")
    message["X-Trader-Kind"] = notification.kind
    lines = [notification.message, ""]
    lines += [f"{key}: {value}" for key, value in notification.details]
    lines += ["", f"{notification.kind} at {notification.occurred_at.isoformat()}"]
    message.set_content("\n".join(lines))
    return message


class EmailNotifier:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = True,
    ) -> None:
        if not recipients:
            raise ValueError("an e-mail notifier needs at least one recipient")
        self._host = host
        self._port = port
        self._sender = sender
        self._recipients = list(recipients)
        self._user = user
        self._password = password
        self._starttls = starttls

    @property
    def channel(self) -> str:
        return "email"

    async def send(self, notification: Notification) -> None:
        message = email_message(notification, self._sender, self._recipients)
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self._host, self._port, timeout=TIMEOUT_SECONDS) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._user:
                    smtp.login(self._user, self._password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as error:
            raise NotificationDeliveryError(
                self.channel,
                f"login refused ({error.smtp_code}); check SMTP_USER/SMTP_PASSWORD",
                retryable=False,
            ) from None
        except smtplib.SMTPRecipientsRefused as error:
            raise NotificationDeliveryError(
                self.channel, f"every recipient refused: {', '.join(error.recipients)}", retryable=False
            ) from None
        except smtplib.SMTPResponseException as error:
            raise NotificationDeliveryError(
                self.channel,
                f"SMTP {error.smtp_code}: {error.smtp_error!r}",
                retryable=error.smtp_code >= 400 and error.smtp_code < 500,
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            raise NotificationDeliveryError(
                self.channel, f"{type(error).__name__}: {error}", retryable=True
            ) from None
        if refused:
            raise NotificationDeliveryError(
                self.channel, f"some recipients refused: {', '.join(refused)}", retryable=False
            )
