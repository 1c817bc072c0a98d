"""Export Service service (port 8006)."""

from __future__ import annotations

from fastapi import FastAPI

from trader.services.common.app_factory import build_service_app
from trader.services.common.resources import Resources

SERVICE = "export_service"


def create_app(resources: Resources) -> FastAPI:
    return build_service_app(SERVICE, resources, title="Export Service")
