"""Runs the whole pipeline on one machine as real processes: the emulator and every service.

Used by `make run`, by the end-to-end tests and by `make bench`, so all three exercise the same processes
the way an operator would run them. Kafka and PostgreSQL are started separately (deploy/local/*.sh or
Compose); this module only supervises the Python services.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port_env: str
    port: int
    health_path: str = "/health/ready"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("aurora_sim", "aurora_sim", "AURORA_SIM_PORT", 8090, "/_sim/health"),
    ServiceSpec("gateway", "gateway", "GATEWAY_PORT", 8080),
    ServiceSpec("admin", "admin", "ADMIN_PORT", 8081),
    ServiceSpec("trigger_filter", "trigger_filter", "TRIGGER_FILTER_PORT", 8092),
    ServiceSpec("fetcher", "fetcher", "FETCHER_PORT", 8093),
    ServiceSpec("importer", "importer", "IMPORTER_PORT", 8094),
)


@dataclass
class RunningService:
    spec: ServiceSpec
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class StartError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """Runs in the child before exec: Linux sends it SIGTERM when the supervisor dies, however it dies, so
    a killed `make run` or test session leaves no stray service behind."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class DevStack:
    env: Mapping[str, str]
    log_dir: Path
    ports: Mapping[str, int] = field(default_factory=dict)
    services: dict[str, RunningService] = field(default_factory=dict)

    def port_of(self, spec: ServiceSpec) -> int:
        return int(self.ports.get(spec.name, self.env.get(spec.port_env, spec.port)))

    def start(self, names: Sequence[str] | None = None, *, timeout: float = 60.0, replicas: int = 1) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        wanted = [s for s in SERVICES if names is None or s.name in names]
        for spec in wanted:
            if spec.name in self.services:
                continue
            self._spawn(spec)
        deadline = time.monotonic() + timeout
        for spec in wanted:
            self.wait_healthy(self.services[spec.name], deadline)

    def _spawn(self, spec: ServiceSpec, suffix: str = "") -> RunningService:
        port = self.port_of(spec)
        env = {**os.environ, **self.env, spec.port_env: str(port)}
        log_path = self.log_dir / f"{spec.name}{suffix}.log"
        log_file = log_path.open("ab")
        process = subprocess.Popen(  # noqa: S603 - fixed module names of this project
            [sys.executable, "-m", spec.module],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        log_file.close()
        running = RunningService(spec, port, process, log_path)
        self.services[spec.name + suffix] = running
        return running

    def wait_healthy(self, service: RunningService, deadline: float) -> None:
        url = service.base_url + service.spec.health_path
        last = "no answer"
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise StartError(f"{service.spec.name} exited with {service.process.returncode}:\n{service.log_tail()}")
            try:
                response = httpx.get(url, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise StartError(f"{service.spec.name} not healthy at {url} ({last}):\n{service.log_tail()}")

    def stop(self, name: str, *, kill: bool = False, timeout: float = 20.0) -> None:
        service = self.services.pop(name, None)
        if service is None or service.process.poll() is not None:
            return
        service.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            service.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()

    def restart(self, name: str, *, kill: bool = False, timeout: float = 60.0) -> None:
        spec = self.services[name].spec
        self.stop(name, kill=kill)
        self._spawn(spec)
        self.wait_healthy(self.services[spec.name], time.monotonic() + timeout)

    def stop_all(self) -> None:
        # Ingress first, emulator last, so in-flight work drains downstream.
        order = ["gateway", "admin", "trigger_filter", "fetcher", "importer", "aurora_sim"]
        for name in sorted(self.services, key=lambda n: order.index(n) if n in order else 0):
            self.stop(name)

    def url(self, name: str) -> str:
        return self.services[name].base_url
