"""Run services: all seven in one process (`trader up`) or one (`trader serve NAME`).

Sockets are bound before anything starts, so a port that is taken fails fast with its name
instead of leaving half a system up. SIGINT/SIGTERM stop every server cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Generator, Sequence

import uvicorn

from trader.runtime.bootstrap import open_resources, prepare_schema
from trader.runtime.heap import freeze_startup_objects
from trader.services.common.logs import configure_logging
from trader.services.registry import app_factory
from trader.settings import SERVICE_NAMES, Settings

log = logging.getLogger(__name__)


class PortUnavailableError(RuntimeError):
    pass


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the supervisor (seven share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int, service: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise PortUnavailableError(
            f"{service} cannot listen on {host}:{port}: {error.strerror}; "
            f"stop what holds the port or set {service.upper()}_PORT"
        ) from error
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def run_services(
    settings: Settings,
    services: Sequence[str] = SERVICE_NAMES,
    *,
    on_ready: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    for name in services:
        app_factory(name)  # unknown names fail before anything binds
    configure_logging(settings.log_dir, services, settings.log_level)
    sockets = []
    try:
        for name in services:
            sockets.append(bind_socket(settings.host, settings.port_of(name), name))
    except PortUnavailableError:
        for sock in sockets:
            sock.close()
        raise
    await prepare_schema(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with open_resources(settings) as resources:
        servers = []
        for name, sock in zip(services, sockets, strict=True):
            app = app_factory(name)(resources)
            config = uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=10,
                server_header=False,
            )
            servers.append((_Server(config), sock))
        tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
        while not all(server.started for server, _sock in servers):
            if any(task.done() for task in tasks):
                break
            await asyncio.sleep(0.05)
        else:
            frozen = freeze_startup_objects()
            log.info(
                "all %d services up: %s (%d start-up objects kept out of garbage collection)",
                len(servers),
                ", ".join(f"{name}:{settings.port_of(name)}" for name in services),
                frozen,
            )
            if on_ready is not None:
                on_ready()
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        log.info("shutting down %d services", len(servers))
        for server, _sock in servers:
            server.should_exit = True
        results = await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        for sock in sockets:
            sock.close()
        for (_server, _sock), result in zip(servers, results, strict=True):
            if isinstance(result, BaseException):
                log.error("a server stopped with an error: %r", result)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
