"""Notifications: what is worth telling an operator, sent to every configured channel, with a
cooldown per kind so a burst of rejections is one message, not a hundred.

Services call `NotificationDispatcher.notify` (build one with `dispatcher_from_settings`), or run
`notification_worker`, which turns bus events (order rejections, trading-state changes) into
notifications.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trader.adapters.db.tables import account_snapshots, fills, trades
from trader.adapters.notifications import (
    EmailNotifier,
    GotifyNotifier,
    NotificationDeliveryError,
    SlackNotifier,
    TelegramNotifier,
    WebhookNotifier,
)
from trader.adapters.notifications.telegram import bot_for
from trader.core import topics
from trader.core.events import Event, OrderStatusChanged, TradingStateChanged
from trader.core.ports import MessageBus, Notification, Notifier
from trader.services.common.consumers import consume
from trader.services.common.metrics import NotificationMetrics
from trader.settings import Settings

log = logging.getLogger(__name__)

ORDER_REJECTED = "order_rejected"
TRADING_STATE_CHANGED = "trading_state_changed"
JOB_FAILED = "job_failed"
RECONCILIATION_DRIFT = "reconciliation_drift"
DAILY_SUMMARY = "daily_summary"


@dataclass(frozen=True, slots=True)
class DispatchOutcome:
    kind: str
    sent: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)
    suppressed: bool = False


class NotificationDispatcher:
    """Sends each notification to every channel, unless its kind was sent within the cooldown.

    A notification no channel accepted does not start the cooldown, so the next one still tries.
    """

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        *,
        cooldown_seconds: float,
        cooldowns: Mapping[str, float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: NotificationMetrics | None = None,
    ) -> None:
        self._notifiers = list(notifiers)
        self._default_cooldown = cooldown_seconds
        self._cooldowns = dict(cooldowns or {})
        self._monotonic = monotonic
        self._metrics = metrics
        self._last_sent: dict[str, float] = {}
        self._lock = asyncio.Lock()

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(notifier.channel for notifier in self._notifiers)

    def cooldown_of(self, kind: str) -> float:
        return self._cooldowns.get(kind, self._default_cooldown)

    async def notify(self, notification: Notification) -> DispatchOutcome:
        kind = notification.kind
        async with self._lock:
            last = self._last_sent.get(kind)
            now = self._monotonic()
            if last is not None and now - last < self.cooldown_of(kind):
                if self._metrics is not None:
                    self._metrics.notifications_suppressed.labels(kind).inc()
                log.info("notification %s suppressed: within its %ss cooldown", kind, self.cooldown_of(kind))
                return DispatchOutcome(kind, suppressed=True)
            results = await asyncio.gather(
                *(notifier.send(notification) for notifier in self._notifiers), return_exceptions=True
            )
            sent: list[str] = []
            failed: dict[str, str] = {}
            for notifier, result in zip(self._notifiers, results, strict=True):
                if isinstance(result, NotificationDeliveryError):
                    failed[notifier.channel] = str(result)
                elif isinstance(result, BaseException):
                    failed[notifier.channel] = f"{type(result).__name__}: {result}"
                else:
                    sent.append(notifier.channel)
            for channel, error in failed.items():
                log.warning("notification %s not delivered by %s: %s", kind, channel, error)
            if self._metrics is not None:
                for channel in sent:
                    self._metrics.notifications_sent.labels(channel, kind).inc()
                for channel in failed:
                    self._metrics.notifications_failed.labels(channel, kind).inc()
            if sent:
                self._last_sent[kind] = now
            return DispatchOutcome(kind, tuple(sent), failed)


def notifiers_from_settings(settings: Settings, http: httpx.AsyncClient) -> list[Notifier]:
    notifiers: list[Notifier] = []
    if settings.notification_webhook_url is not None:
        notifiers.append(WebhookNotifier(http, settings.notification_webhook_url.get_secret_value()))
    if settings.slack_webhook_url is not None:
        notifiers.append(SlackNotifier(http, settings.slack_webhook_url.get_secret_value()))
    if settings.gotify_url:
        if settings.gotify_token is None:
            raise ValueError("GOTIFY_URL is set but GOTIFY_TOKEN is not: Gotify needs an application token")
        notifiers.append(GotifyNotifier(http, settings.gotify_url, settings.gotify_token.get_secret_value()))
    if settings.smtp_host:
        if not settings.smtp_from or not settings.smtp_to:
            raise ValueError("SMTP_HOST is set but SMTP_FROM or SMTP_TO is not: e-mail needs both")
        notifiers.append(
            EmailNotifier(
                settings.smtp_host,
                settings.smtp_port,
                settings.smtp_from,
                settings.smtp_to,
                user=settings.smtp_user or None,
                password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                starttls=settings.smtp_starttls,
            )
        )
    if settings.telegram_bot_token is not None:
        bot = bot_for(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url)
        notifiers.append(TelegramNotifier(bot, settings.telegram_chat_ids))
    return notifiers


def dispatcher_from_settings(
    settings: Settings, http: httpx.AsyncClient, *, metrics: NotificationMetrics | None = None
) -> NotificationDispatcher:
    return NotificationDispatcher(
        notifiers_from_settings(settings, http),
        cooldown_seconds=settings.notification_cooldown_seconds,
        # One summary a day is the point of it; a cooldown would only ever hide a re-run.
        cooldowns={DAILY_SUMMARY: 0.0},
        metrics=metrics,
    )


# --- What each kind says ---------------------------------------------------------------------


def order_rejected(
    occurred_at: datetime, *, client_order_id: str, symbol: str, reason: str | None
) -> Notification:
    return Notification(
        kind=ORDER_REJECTED,
        title=f"Order rejected: {symbol}",
        message=f"Order {client_order_id} for {symbol} was rejected: {reason or 'no reason given'}",
        severity="warning",
        occurred_at=occurred_at,
        details=(("symbol", symbol), ("client_order_id", client_order_id), ("reason", reason or "")),
    )


def trading_state_changed(
    occurred_at: datetime, *, previous_state: str, state: str, reason: str, changed_by: str
) -> Notification:
    return Notification(
        kind=TRADING_STATE_CHANGED,
        title=f"Trading {state.upper()}",
        message=f"Trading state {previous_state} -> {state} by {changed_by}: {reason}",
        severity="critical" if state == "halted" else "warning" if state == "reducing" else "info",
        occurred_at=occurred_at,
        details=(("previous_state", previous_state), ("state", state), ("changed_by", changed_by)),
    )


def job_failed(occurred_at: datetime, *, job: str, error: str, attempt: int = 1) -> Notification:
    return Notification(
        kind=JOB_FAILED,
        title=f"Job failed: {job}",
        message=f"Job {job} failed (attempt {attempt}): {error}",
        severity="warning",
        occurred_at=occurred_at,
        details=(("job", job), ("attempt", str(attempt))),
    )


def reconciliation_drift(occurred_at: datetime, *, differences: Mapping[str, str]) -> Notification:
    listed = "; ".join(f"{key}: {value}" for key, value in differences.items())
    return Notification(
        kind=RECONCILIATION_DRIFT,
        title=f"Broker reconciliation: {len(differences)} difference(s)",
        message=f"Our records and the broker's disagree: {listed}",
        severity="critical",
        occurred_at=occurred_at,
        details=tuple(differences.items()),
    )


@dataclass(frozen=True, slots=True)
class DaySummary:
    start_at: datetime
    end_at: datetime
    orders_by_status: Mapping[str, int]
    fills: int
    traded_notional: Decimal
    equity: Decimal | None
    equity_change: Decimal | None


def daily_summary(occurred_at: datetime, summary: DaySummary) -> Notification:
    statuses = ", ".join(f"{status} {count}" for status, count in sorted(summary.orders_by_status.items()))
    equity = "no account snapshot" if summary.equity is None else f"equity {summary.equity}"
    if summary.equity_change is not None:
        equity += f" ({'+' if summary.equity_change >= 0 else ''}{summary.equity_change} on the day)"
    return Notification(
        kind=DAILY_SUMMARY,
        title=f"Daily summary {summary.start_at.date().isoformat()}",
        message=f"Orders: {statuses or 'none'}. Fills: {summary.fills}, "
        f"traded {summary.traded_notional}. {equity}.",
        severity="info",
        occurred_at=occurred_at,
        details=(
            ("orders", str(sum(summary.orders_by_status.values()))),
            ("rejected", str(summary.orders_by_status.get("rejected", 0))),
            ("fills", str(summary.fills)),
            ("traded_notional", str(summary.traded_notional)),
            ("equity", "" if summary.equity is None else str(summary.equity)),
        ),
    )


async def _equity_before(connection: AsyncConnection, moment: datetime) -> Decimal | None:
    equity: Decimal | None = (
        await connection.execute(
            select(account_snapshots.c.equity)
            .where(account_snapshots.c.timestamp < moment)
            .order_by(account_snapshots.c.timestamp.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return equity


async def summarise_day(engine: AsyncEngine, start_at: datetime, end_at: datetime) -> DaySummary:
    """The figures of [start_at, end_at) from the stores, for `daily_summary`."""
    async with engine.connect() as connection:
        statuses = (
            await connection.execute(
                select(trades.c.status, func.count())
                .where(trades.c.timestamp >= start_at, trades.c.timestamp < end_at)
                .group_by(trades.c.status)
            )
        ).all()
        fill_rows = (
            await connection.execute(
                select(fills.c.quantity, fills.c.price).where(
                    fills.c.timestamp >= start_at, fills.c.timestamp < end_at
                )
            )
        ).all()
        closing = await _equity_before(connection, end_at)
        opening = await _equity_before(connection, start_at)
    return DaySummary(
        start_at=start_at,
        end_at=end_at,
        orders_by_status={status: count for status, count in statuses},
        fills=len(fill_rows),
        traded_notional=sum((row.quantity * row.price for row in fill_rows), Decimal(0)),
        equity=closing,
        equity_change=None if closing is None or opening is None else closing - opening,
    )


# --- From bus events -------------------------------------------------------------------------


def notification_for(event: Event) -> Notification | None:
    if isinstance(event, OrderStatusChanged) and event.status == "rejected":
        return order_rejected(
            event.occurred_at,
            client_order_id=event.client_order_id,
            symbol=event.symbol,
            reason=event.error_message,
        )
    if isinstance(event, TradingStateChanged):
        return trading_state_changed(
            event.occurred_at,
            previous_state=event.previous_state,
            state=event.state,
            reason=event.reason,
            changed_by=event.changed_by,
        )
    return None


NOTIFIED_TOPICS = (topics.ORDERS, topics.TRADING_STATE)
CONSUMER_GROUP = "notifications"


def notification_worker(
    bus: MessageBus, dispatcher: NotificationDispatcher, *, consumer: str = "notifier"
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background worker (for `build_service_app(workers=...)`) that notifies on bus events."""

    async def notify(event: Event) -> None:
        notification = notification_for(event)
        if notification is not None:
            await dispatcher.notify(notification)

    async def notify_from_bus() -> None:
        if not dispatcher.channels:
            log.info("no notification channel configured; not watching the bus")
            return
        await asyncio.gather(
            *(consume(bus, topic, CONSUMER_GROUP, notify, consumer=consumer) for topic in NOTIFIED_TOPICS)
        )

    return notify_from_bus
