"""Export service (port 8006): datasets as CSV/JSON/Parquet, reports, and the record of every export."""

from __future__ import annotations

from fastapi import FastAPI

from trader.services.common.app_factory import build_service_app
from trader.services.common.resources import Resources
from trader.services.export_service.routes import build_router

SERVICE = "export_service"


def create_app(resources: Resources) -> FastAPI:
    return build_service_app(SERVICE, resources, title="Export Service", routers=[build_router()])
