"""Start the real system as subprocesses on free loopback ports, and stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.backends import free_port
from trader.settings import SERVICE_NAMES

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class RunningSystem:
    ports: dict[str, int]
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def wait_healthy(self, timeout_seconds: float = 60) -> float:
        """Seconds until every /health answers 200; raises with the last answers on time-out."""
        started = time.monotonic()
        last: dict[str, str] = {}
        while time.monotonic() - started < timeout_seconds:
            for process in self.processes:
                if process.poll() is not None:
                    raise AssertionError(
                        f"a service process exited with {process.returncode}:\n{self.output()}"
                    )
            codes = {}
            for service in self.ports:
                try:
                    codes[service] = str(httpx.get(f"{self.url(service)}/health", timeout=2).status_code)
                except httpx.HTTPError as error:
                    codes[service] = type(error).__name__
            last = codes
            if all(code == "200" for code in codes.values()):
                return time.monotonic() - started
            time.sleep(0.25)
        raise AssertionError(f"not healthy within {timeout_seconds}s: {last}\n{self.output()}")

    def wait_all_healthy(self, timeout_seconds: float = 90) -> None:
        """Until every /health says "healthy", not merely answers (the strategy engine is degraded
        while the default strategy waits for the replayed history it needs)."""
        started = time.monotonic()
        states: dict[str, str] = {}
        while time.monotonic() - started < timeout_seconds:
            for service in self.ports:
                try:
                    states[service] = httpx.get(f"{self.url(service)}/health", timeout=5).json()["status"]
                except (httpx.HTTPError, ValueError, KeyError) as error:
                    states[service] = type(error).__name__
            if all(state == "healthy" for state in states.values()):
                return
            time.sleep(0.5)
        raise AssertionError(f"not all healthy within {timeout_seconds}s: {states}\n{self.output()}")

    def stop(self, timeout_seconds: float = 20) -> list[int]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process in self.processes:
            try:
                codes.append(process.wait(timeout=timeout_seconds))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes

    def output(self) -> str:
        logs = self.workdir / "logs"
        if not logs.exists():
            return "(no logs)"
        return "\n".join(f"== {path.name}\n{path.read_text()[-3000:]}" for path in sorted(logs.glob("*.log")))


def environment_for(workdir: Path, ports: dict[str, int], **extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.endswith("_PORT")}
    environment.update(
        {
            "ENVIRONMENT": "development",
            "DATA_DIR": str(workdir / "data"),
            "LOG_DIR": str(workdir / "logs"),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    environment.update({f"{service.upper()}_PORT": str(port) for service, port in ports.items()})
    environment.update(extra)
    return environment


def start(workdir: Path, commands: list[list[str]], **extra: str) -> RunningSystem:
    ports = {service: free_port() for service in SERVICE_NAMES}
    system = RunningSystem(ports, workdir, environment=environment_for(workdir, ports, **extra))
    for command in commands:
        add_process(system, command)
    return system


def add_process(system: RunningSystem, command: list[str], **overrides: str) -> subprocess.Popen[bytes]:
    """One more process of the same system, e.g. a second worker of a service on its own port
    (`STRATEGY_ENGINE_PORT=...`), or a service started after the others. It is stopped with them."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trader.cli", *command],
        cwd=system.workdir,
        env={**system.environment, **overrides},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    system.processes.append(process)
    return process
