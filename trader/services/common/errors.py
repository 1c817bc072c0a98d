"""Error responses: a clear 4xx for bad input, 503 when a back end is down, never a bare 500 text."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from trader.adapters.db.engine import DatabaseUnavailableError

log = logging.getLogger(__name__)


def _describe(error: dict[str, object]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body",))  # type: ignore[attr-defined]
    return f"{location}: {error.get('msg')}" if location else str(error.get("msg"))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_describe(item) for item in error.errors()]
        return JSONResponse(
            status_code=422,
            content={"error": "invalid request", "message": "; ".join(problems), "details": problems},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) else "request failed"
        content: dict[str, object] = {"error": message, "message": message}
        if not isinstance(error.detail, str):
            content["details"] = error.detail
        return JSONResponse(
            status_code=error.status_code, content=content, headers=getattr(error, "headers", None)
        )

    @app.exception_handler(DatabaseUnavailableError)
    async def _database_down(_request: Request, error: DatabaseUnavailableError) -> JSONResponse:
        log.error("request failed, database unavailable: %s", error)
        return JSONResponse(
            status_code=503,
            content={
                "error": "database unavailable",
                "message": "the database is unavailable; retry shortly",
            },
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # Logged with the traceback for the operator; the client gets no internals.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            status_code=500,
            content={"error": "internal error", "message": "unexpected error; see the service log"},
        )
