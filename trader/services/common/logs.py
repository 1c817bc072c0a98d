"""Log set-up in the operations guide's layout.

Every line reads `YYYY-MM-DD HH:MM:SS,mmm LEVEL logger: message` (UTC), so the guide's
`cut -d' ' -f4-` keeps the logger and message. Each service writes `logs/<service>.log`; when
all seven share one process, a context variable says which service a line belongs to.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
current_service: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_service", default=None)

_HANDLER_MARK = "_trader_handler"


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str | None, *, others: bool = False) -> None:
        super().__init__()
        self.service = service
        self.others = others
        self.known: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        service = getattr(record, "service", None) or current_service.get()
        if self.others:
            return service not in self.known
        return service == self.service


def _formatter() -> logging.Formatter:
    formatter = logging.Formatter(LINE_FORMAT)
    formatter.converter = time.gmtime
    return formatter


def remove_handlers() -> None:
    """Take our handlers off the root logger (tests, and a process that reconfigures)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()


def configure_logging(
    log_dir: Path, services: Iterable[str], level: str = "INFO", *, console: bool = True
) -> None:
    """Route records to the console and to one file per service (the rest to `trader.log`)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    remove_handlers()
    root = logging.getLogger()
    root.setLevel(level)
    formatter = _formatter()
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    names = list(services)
    for service in names:
        file_handler = logging.FileHandler(log_dir / f"{service}.log", encoding="utf-8")
        file_handler.addFilter(_ServiceFilter(service))
        handlers.append(file_handler)
    rest = logging.FileHandler(log_dir / "trader.log", encoding="utf-8")
    rest_filter = _ServiceFilter(None, others=True)
    rest_filter.known = set(names)
    rest.addFilter(rest_filter)
    handlers.append(rest)
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    # Our own access log (with the service and status) replaces uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
    # uvicorn repeats its start-up lines once per server; seven servers share a process.
    for noisy in ("httpx", "httpcore", "asyncio", "aiosqlite", "alembic.runtime.migration", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
