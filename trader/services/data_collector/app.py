"""Data Collector service (port 8001)."""

from __future__ import annotations

from fastapi import FastAPI

from trader.services.common.app_factory import build_service_app
from trader.services.common.resources import Resources

SERVICE = "data_collector"


def create_app(resources: Resources) -> FastAPI:
    return build_service_app(SERVICE, resources, title="Data Collector")
