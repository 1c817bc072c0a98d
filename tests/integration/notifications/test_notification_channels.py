"""Every channel delivers to a real local receiver; the dispatcher's cooldown is per kind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from tests.backends import free_port
from tests.integration.notifications.receivers import http_receiver, smtp_receiver
from trader.adapters.bus.memory import InMemoryBus
from trader.adapters.notifications import (
    EmailNotifier,
    GotifyNotifier,
    NotificationDeliveryError,
    SlackNotifier,
    WebhookNotifier,
)
from trader.core import topics
from trader.core.events import OrderStatusChanged, TradingStateChanged
from trader.core.ports import Notifier
from trader.services.common.metrics import ServiceMetrics, notification_metrics
from trader.services.common.notifications import (
    NotificationDispatcher,
    dispatcher_from_settings,
    job_failed,
    notification_worker,
    order_rejected,
    trading_state_changed,
)
from trader.settings import Settings

AT = datetime(2025, 3, 14, 15, 30, tzinfo=UTC)
HALTED = trading_state_changed(
    AT, previous_state="active", state="halted", reason="Security incident detected", changed_by="api_token"
)


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_webhook_posts_the_notification_as_json() -> None:
    with http_receiver() as receiver:
        async with httpx.AsyncClient() as http:
            await WebhookNotifier(http, f"{receiver.url}/hooks/trader").send(HALTED)
    (request,) = receiver.requests
    assert request.path == "/hooks/trader"
    assert request.body["kind"] == "trading_state_changed"
    assert request.body["severity"] == "critical"
    assert request.body["occurred_at"] == AT.isoformat()
    assert request.body["details"]["changed_by"] == "api_token"


async def test_slack_message_has_fallback_text_and_blocks() -> None:
    rejected = order_rejected(
        AT, client_order_id="abc-1", symbol="AAPL", reason="insufficient <buying> power"
    )
    with http_receiver() as receiver:
        async with httpx.AsyncClient() as http:
            await SlackNotifier(http, f"{receiver.url}/services/T/B/X").send(rejected)
    body = receiver.requests[0].body
    assert "Order rejected: AAPL" in body["text"]
    header, section, fields, context = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Order rejected: AAPL"}}
    assert "&lt;buying&gt;" in section["text"]["text"]
    assert {"type": "mrkdwn", "text": "*symbol*\nAAPL"} in fields["fields"]
    assert context["type"] == "context"


async def test_gotify_posts_to_message_with_the_application_key() -> None:
    with http_receiver() as receiver:
        async with httpx.AsyncClient() as http:
            await GotifyNotifier(http, receiver.url + "/", "app-token-123").send(HALTED)
            await GotifyNotifier(http, receiver.url, "app-token-123").send(
                job_failed(AT, job="backup", error="x")
            )
    critical, warning = receiver.requests
    assert critical.path == "/message"
    assert critical.headers["x-gotify-key"] == "app-token-123"
    assert critical.body["title"] == "Trading HALTED"
    assert "changed_by: api_token" in critical.body["message"]
    assert critical.body["priority"] > warning.body["priority"]


async def test_email_is_delivered_to_a_real_smtp_server() -> None:
    with smtp_receiver() as server:
        notifier = EmailNotifier(
            server.host,
            server.port,
            "trader@example.org",
            ["ops@example.org", "oncall@example.org"],
            starttls=False,
        )
        await notifier.send(HALTED)
    ((envelope, message),) = server.messages
    assert envelope.mail_from == "trader@example.org"
    assert envelope.rcpt_tos == ["ops@example.org", "oncall@example.org"]
    assert message["Subject"] == "[trader critical] Trading HALTED"
    assert message["X-Trader-Kind"] == "trading_state_changed"
    assert "Security incident detected" in str(message.get_payload())


async def test_email_refused_recipients_are_not_retryable() -> None:
    with smtp_receiver(refuse="ghost@example.org") as server:
        notifier = EmailNotifier(
            server.host, server.port, "trader@example.org", ["ghost@example.org"], starttls=False
        )
        with pytest.raises(NotificationDeliveryError) as raised:
            await notifier.send(HALTED)
    assert raised.value.retryable is False
    assert "ghost@example.org" in str(raised.value)


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (404, False), (429, True), (503, True)])
async def test_http_errors_say_whether_to_retry(status: int, retryable: bool) -> None:
    with http_receiver() as receiver:
        receiver.answer_status = status
        async with httpx.AsyncClient() as http:
            with pytest.raises(NotificationDeliveryError) as raised:
                await WebhookNotifier(http, receiver.url).send(HALTED)
    assert raised.value.retryable is retryable
    assert f"HTTP {status}" in str(raised.value)


async def test_an_unreachable_receiver_is_retryable() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(NotificationDeliveryError) as raised:
            await WebhookNotifier(http, f"http://127.0.0.1:{free_port()}").send(HALTED)
    assert raised.value.retryable is True


async def test_cooldown_is_per_kind_and_ends() -> None:
    ticker = Ticker()
    metrics = ServiceMetrics("maintenance_service")
    with http_receiver() as receiver:
        async with httpx.AsyncClient() as http:
            dispatcher = NotificationDispatcher(
                [WebhookNotifier(http, receiver.url)],
                cooldown_seconds=60,
                monotonic=ticker,
                metrics=notification_metrics(metrics),
            )
            first = await dispatcher.notify(
                order_rejected(AT, client_order_id="a", symbol="AAPL", reason="r")
            )
            ticker.now += 59
            second = await dispatcher.notify(
                order_rejected(AT, client_order_id="b", symbol="MSFT", reason="r")
            )
            other_kind = await dispatcher.notify(HALTED)
            ticker.now += 1
            third = await dispatcher.notify(order_rejected(AT, client_order_id="c", symbol="IBM", reason="r"))
    assert first.sent == ("webhook",) and not first.suppressed
    assert second.suppressed and second.sent == ()
    assert other_kind.sent == ("webhook",)
    assert third.sent == ("webhook",)
    assert [request.body["details"].get("client_order_id") for request in receiver.requests] == [
        "a",
        None,
        "c",
    ]
    text = metrics.render().decode()
    assert 'notifications_suppressed_total{kind="order_rejected"} 1.0' in text
    assert 'notifications_sent_total{channel="webhook",kind="order_rejected"} 2.0' in text


async def test_a_notification_nobody_took_does_not_start_the_cooldown() -> None:
    ticker = Ticker()
    with http_receiver() as receiver:
        async with httpx.AsyncClient() as http:
            dispatcher = NotificationDispatcher(
                [WebhookNotifier(http, receiver.url)], cooldown_seconds=60, monotonic=ticker
            )
            receiver.answer_status = 503
            failed = await dispatcher.notify(HALTED)
            receiver.answer_status = 200
            retried = await dispatcher.notify(HALTED)
    assert failed.sent == () and "HTTP 503" in failed.failed["webhook"]
    assert retried.sent == ("webhook",)


async def test_one_failing_channel_does_not_stop_the_others() -> None:
    with http_receiver() as good, http_receiver() as bad:
        bad.answer_status = 401
        async with httpx.AsyncClient() as http:
            channels: list[Notifier] = [SlackNotifier(http, bad.url), WebhookNotifier(http, good.url)]
            outcome = await NotificationDispatcher(channels, cooldown_seconds=0).notify(HALTED)
    assert outcome.sent == ("webhook",)
    assert set(outcome.failed) == {"slack"}
    assert len(good.requests) == 1


async def test_settings_switch_every_channel_on() -> None:
    with (
        http_receiver() as webhook,
        http_receiver() as slack,
        http_receiver() as gotify,
        smtp_receiver() as smtp,
    ):
        settings = Settings(
            notification_webhook_url=webhook.url,
            slack_webhook_url=slack.url,
            gotify_url=gotify.url,
            gotify_token="gotify-app-token",
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_starttls=False,
            smtp_from="trader@example.org",
            smtp_to="ops@example.org, risk@example.org",
        )
        async with httpx.AsyncClient() as http:
            dispatcher = dispatcher_from_settings(settings, http)
            outcome = await dispatcher.notify(HALTED)
    assert sorted(outcome.sent) == ["email", "gotify", "slack", "webhook"], outcome.failed
    assert smtp.messages[0][0].rcpt_tos == ["ops@example.org", "risk@example.org"]
    assert gotify.requests[0].headers["x-gotify-key"] == "gotify-app-token"


def test_gotify_without_a_token_is_refused() -> None:
    settings = Settings(gotify_url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="GOTIFY_TOKEN"):
        dispatcher_from_settings(settings, httpx.AsyncClient())


async def test_bus_events_become_notifications() -> None:
    bus = InMemoryBus()
    with http_receiver() as receiver:
        async with httpx.AsyncClient() as http:
            dispatcher = NotificationDispatcher([WebhookNotifier(http, receiver.url)], cooldown_seconds=0)
            worker = asyncio.create_task(notification_worker(bus, dispatcher)())
            await asyncio.sleep(0.1)  # the worker creates its consumer groups
            await bus.publish(
                topics.ORDERS,
                OrderStatusChanged(
                    occurred_at=AT,
                    client_order_id="o-1",
                    symbol="AAPL",
                    previous_status="submitted",
                    status="filled",
                ),
            )
            await bus.publish(
                topics.ORDERS,
                OrderStatusChanged(
                    occurred_at=AT,
                    client_order_id="o-2",
                    symbol="MSFT",
                    previous_status="submitted",
                    status="rejected",
                    error_message="account blocked",
                ),
            )
            await bus.publish(
                topics.TRADING_STATE,
                TradingStateChanged(
                    occurred_at=AT, previous_state="active", state="halted", reason="drill", changed_by="ops"
                ),
            )
            for _ in range(50):
                if len(receiver.requests) >= 2:
                    break
                await asyncio.sleep(0.1)
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    kinds = sorted(
        (request.body["kind"], request.body["details"].get("symbol")) for request in receiver.requests
    )
    assert kinds == [("order_rejected", "MSFT"), ("trading_state_changed", None)]
