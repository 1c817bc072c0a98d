"""Strategy Engine service (port 8002)."""

from __future__ import annotations

from fastapi import FastAPI

from trader.services.common.app_factory import build_service_app
from trader.services.common.resources import Resources

SERVICE = "strategy_engine"


def create_app(resources: Resources) -> FastAPI:
    return build_service_app(SERVICE, resources, title="Strategy Engine")
