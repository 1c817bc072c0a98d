"""Maintenance service (port 8007): whole-system status, and later maintenance operations."""

from __future__ import annotations

from fastapi import FastAPI

from trader.services.common.app_factory import build_service_app
from trader.services.common.resources import Resources
from trader.services.maintenance_service.dashboard import build_dashboard_router
from trader.services.maintenance_service.routes import build_router

SERVICE = "maintenance_service"


def create_app(resources: Resources) -> FastAPI:
    return build_service_app(
        SERVICE, resources, title="Maintenance Service", routers=[build_router(), build_dashboard_router()]
    )
