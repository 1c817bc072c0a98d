"""Risk Manager service (port 8003)."""

from __future__ import annotations

from fastapi import FastAPI

from trader.services.common.app_factory import build_service_app
from trader.services.common.resources import Resources

SERVICE = "risk_manager"


def create_app(resources: Resources) -> FastAPI:
    return build_service_app(SERVICE, resources, title="Risk Manager")
