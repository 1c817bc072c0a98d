"""Service name -> its `create_app`, imported only when that service is started."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fastapi import FastAPI

from trader.services.common.resources import Resources
from trader.settings import SERVICE_NAMES


def app_factory(service: str) -> Callable[[Resources], FastAPI]:
    if service not in SERVICE_NAMES:
        raise KeyError(f"unknown service {service!r}; known: {', '.join(SERVICE_NAMES)}")
    module = importlib.import_module(f"trader.services.{service}.app")
    factory: Callable[[Resources], FastAPI] = module.create_app
    return factory
