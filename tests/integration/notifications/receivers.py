"""Local receivers: an HTTP server that records what it is sent, and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.backends import free_port


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class HttpReceiver:
    url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    answer_status: int = 200


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    port = free_port()
    receiver = HttpReceiver(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append(
                ReceivedRequest(
                    self.path, {key.lower(): value for key, value in self.headers.items()}, json.loads(raw)
                )
            )
            self.send_response(receiver.answer_status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"id": 1}' if receiver.answer_status < 400 else b'{"error": "refused"}')

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class SmtpReceiver:
    host: str
    port: int
    messages: list[tuple[Envelope, Message]] = field(default_factory=list)


class _Handler:
    def __init__(self, receiver: SmtpReceiver, *, refuse: str | None) -> None:
        self.receiver = receiver
        self.refuse = refuse

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse is not None and address == self.refuse:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.receiver.messages.append((envelope, message_from_bytes(content)))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_receiver(*, refuse: str | None = None) -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver("127.0.0.1", free_port())
    controller = Controller(_Handler(receiver, refuse=refuse), hostname=receiver.host, port=receiver.port)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
