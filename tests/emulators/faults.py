"""Request recording and fault injection shared by the emulators (an ASGI middleware).

A test queues `Fault`s; the next matching request(s) get them:

- `Fault(status=429)`: answered at once with that status, the request is NOT processed;
- `Fault(status=500, after_processing=True)`: processed (an order IS created), then answered with 500;
- `Fault(delay_seconds=1.0, after_processing=True)`: processed, then the real answer is held back for
  one second (longer than the client's timeout, so the client gives up although the work was done);
- `Fault(delay_seconds=1.0)`: held back before processing.

Every request is recorded (method, path, query, headers, body) before any fault applies, so a test can
check what the official SDK really sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class Fault:
    """What the next matching request(s) receive. `method`/`path` None match any; `path` is exact."""

    status: int | None = None
    body: Any = None
    delay_seconds: float = 0.0
    after_processing: bool = False
    method: str | None = None
    path: str | None = None
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path == path


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    query_string: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(slots=True)
class _Armed:
    fault: Fault
    remaining: int


@dataclass
class FaultPlan:
    """Thread-safe queue of faults (tests add from the main thread, the server takes in its own)."""

    _armed: list[_Armed] = field(default_factory=list)
    _requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("a fault must apply at least once")
        with self._lock:
            self._armed.append(_Armed(fault, fault.times))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for armed in self._armed:
                if armed.fault.matches(method, path):
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                    return armed.fault
        return None

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(armed.remaining for armed in self._armed)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()


class FaultInjectionMiddleware:
    def __init__(self, app: ASGIApp, plan: FaultPlan, default_body: Callable[[int], Any]) -> None:
        self._app = app
        self._plan = plan
        self._default_body = default_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        method: str = scope["method"]
        path: str = scope["path"]
        query_string = scope.get("query_string", b"").decode("latin-1")
        self._plan.record(
            RecordedRequest(
                method=method,
                path=path,
                query=dict(parse_qsl(query_string, keep_blank_values=True)),
                query_string=query_string,
                headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
                body=body,
            )
        )
        fault = self._plan.take(method, path)
        if fault is None:
            await self._app(scope, replay, send)
            return
        if not fault.after_processing:
            await asyncio.sleep(fault.delay_seconds)
            if fault.status is None:
                await self._app(scope, replay, send)
            else:
                await self._send_fault(fault, fault.status, send)
            return
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self._app(scope, replay, capture)
        await asyncio.sleep(fault.delay_seconds)
        if fault.status is None:
            for message in captured:
                await send(message)
        else:
            await self._send_fault(fault, fault.status, send)

    async def _send_fault(self, fault: Fault, status: int, send: Send) -> None:
        body = fault.body if fault.body is not None else self._default_body(status)
        if isinstance(body, bytes):
            payload, content_type = body, b"text/plain; charset=utf-8"
        elif isinstance(body, str):
            payload, content_type = body.encode(), b"text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(body).encode(), b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class FaultableEmulator:
    """What every vendor emulator shares: a settable aware clock, one lock over its state, and an ASGI
    `app` that records each request and serves queued faults before the vendor's routes."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._now = now.astimezone(UTC)
        self._lock = threading.RLock()
        self.faults = FaultPlan()

    def _serve(self, routes: Sequence[BaseRoute], default_error_body: Callable[[int], Any]) -> None:
        self.app = FaultInjectionMiddleware(Starlette(routes=routes), self.faults, default_error_body)

    def inject(self, fault: Fault) -> None:
        self.faults.add(fault)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.faults.requests

    @property
    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set_now(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        with self._lock:
            self._now = now.astimezone(UTC)
