"""Run an ASGI app with uvicorn in a background thread on 127.0.0.1 and a free port.

    with EmulatorServer(app) as server:
        requests.get(server.base_url + "/v2/clock")

The socket is bound before the thread starts (port 0, the kernel picks), so `base_url` is known at once
and two servers never race for a port. `stop()` asks uvicorn to exit and joins the thread; requests still
sleeping in an injected delay are cut off after `shutdown_timeout_seconds`.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class EmulatorServer:
    def __init__(self, app: Any, *, shutdown_timeout_seconds: float = 2.0) -> None:
        self._app = app
        self._shutdown_timeout_seconds = shutdown_timeout_seconds
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """Scheme, host and port without a trailing slash, e.g. http://127.0.0.1:54321."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, startup_timeout_seconds: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError("server already started")
        bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.bind(("127.0.0.1", 0))
        self._socket = bound
        self._port = bound.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(max(1, round(self._shutdown_timeout_seconds))),
        )
        server = uvicorn.Server(config)
        self._server = server
        thread = threading.Thread(target=server.run, kwargs={"sockets": [bound]}, daemon=True)
        thread.name = f"emulator-{self._port}"
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + startup_timeout_seconds
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("emulator server thread died during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"emulator server did not start within {startup_timeout_seconds} s")
            time.sleep(0.01)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=self._shutdown_timeout_seconds + 5)
            if thread.is_alive():
                server_any: Any = server
                server_any.force_exit = True
                thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
