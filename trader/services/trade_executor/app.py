"""Trade Executor service (port 8004)."""

from __future__ import annotations

from fastapi import FastAPI

from trader.services.common.app_factory import build_service_app
from trader.services.common.resources import Resources

SERVICE = "trade_executor"


def create_app(resources: Resources) -> FastAPI:
    return build_service_app(SERVICE, resources, title="Trade Executor")
