"""Maintenance service (port 8007): whole-system status, and later maintenance operations."""

from __future__ import annotations

from fastapi import FastAPI

from trader.services.common.app_factory import build_service_app
from trader.services.common.consumers import consumer_name
from trader.services.common.metrics import ServiceMetrics, notification_metrics
from trader.services.common.notifications import dispatcher_from_settings, notification_worker
from trader.services.common.resources import Resources
from trader.services.maintenance_service.chatops.bot import ChatOps
from trader.services.maintenance_service.dashboard import build_dashboard_router
from trader.services.maintenance_service.routes import build_router

SERVICE = "maintenance_service"


def create_app(resources: Resources) -> FastAPI:
    metrics = ServiceMetrics(SERVICE)
    # Trading-state changes (emergency shutdown included) and order rejections reach the operator.
    dispatcher = dispatcher_from_settings(
        resources.settings, resources.http, metrics=notification_metrics(metrics)
    )
    workers = [notification_worker(resources.bus, dispatcher, consumer=consumer_name(SERVICE))]
    # Chat ops run only with a bot token; their state shows in this service's /health.
    chat_ops = ChatOps(resources) if resources.settings.telegram_bot_token is not None else None
    if chat_ops is not None:
        workers.append(chat_ops.run)
    return build_service_app(
        SERVICE,
        resources,
        title="Maintenance Service",
        routers=[build_router(), build_dashboard_router()],
        workers=workers,
        extra_health=None if chat_ops is None else chat_ops.health,
        metrics=metrics,
    )
