"""Runs the whole pipeline on one machine as real processes: the emulator and every service.

Used by `make run`, by the end-to-end tests and by `make bench`, so all three exercise the same processes
the way an operator would run them. Kafka and PostgreSQL are started separately (deploy/local/*.sh or
Compose); this module only supervises the Python services.

Any service but the emulator can run as several copies (`replicas`, from `make run RUN_ARGS="--replicas
fetcher=2,importer=2"` or PIPELINE_REPLICAS): copy 1 keeps the service's name and port, copy N is named
"<service>-N", listens on the service's port + 100*(N-1) unless `ports` names it, and logs to its own file.
The copies of a stage share its consumer group, so Kafka splits the partitions between them.
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


REPLICAS_ENV = "PIPELINE_REPLICAS"
# Its tenants and projects live in its memory: a second copy would be a second, empty Aurora.
SINGLE_COPY = frozenset({"aurora_sim"})


def parse_replicas(text: str) -> dict[str, int]:
    """`"fetcher=2,importer=2"` -> {"fetcher": 2, "importer": 2}; a bad entry is refused with its name."""
    known = {s.name for s in SERVICES}
    counts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, number = item.partition("=")
        name = name.strip()
        if name not in known:
            raise ValueError(f"replicas: unknown service {name!r} (one of {', '.join(sorted(known))})")
        if not number.strip().isdigit() or int(number) < 1:
            raise ValueError(f"replicas: {item!r} needs a count of 1 or more, as in {name}=2")
        if name in SINGLE_COPY and int(number) != 1:
            raise ValueError(f"replicas: {name} runs as one copy (its state is in memory)")
        counts[name] = int(number)
    return counts


def copy_name(service: str, copy: int) -> str:
    return service if copy == 1 else f"{service}-{copy}"


@dataclass
class RunningService:
    spec: ServiceSpec
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    copy: int = 1

    @property
    def name(self) -> str:
        return copy_name(self.spec.name, self.copy)

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
    # Copies per service (default 1); names as in SERVICES.
    replicas: Mapping[str, int] = field(default_factory=dict)
    services: dict[str, RunningService] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Validated the same way as the command line, so a typo in code fails as loudly as one in a shell.
        parse_replicas(",".join(f"{k}={v}" for k, v in self.replicas.items()))

    def port_of(self, spec: ServiceSpec, copy: int = 1) -> int:
        base = int(self.ports.get(spec.name, self.env.get(spec.port_env, spec.port)))
        return int(self.ports.get(copy_name(spec.name, copy), base + 100 * (copy - 1)))

    def start(self, names: Sequence[str] | None = None, *, timeout: float = 60.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        wanted = [s for s in SERVICES if names is None or s.name in names]
        spawned = []
        for spec in wanted:
            for copy in range(1, self.replicas.get(spec.name, 1) + 1):
                if copy_name(spec.name, copy) not in self.services:
                    spawned.append(self._spawn(spec, copy))
        deadline = time.monotonic() + timeout
        for service in spawned:
            self.wait_healthy(service, deadline)

    def copies(self, name: str) -> list[RunningService]:
        """Every running copy of a service, copy 1 first."""
        return sorted((s for s in self.services.values() if s.spec.name == name), key=lambda s: s.copy)

    def signal(self, name: str, signum: signal.Signals) -> None:
        """Sends a signal to one copy (SIGSTOP/SIGCONT to freeze and resume it without it noticing)."""
        self.services[name].process.send_signal(signum)

    def _spawn(self, spec: ServiceSpec, copy: int = 1) -> RunningService:
        port = self.port_of(spec, copy)
        env = {**os.environ, **self.env, spec.port_env: str(port)}
        log_path = self.log_dir / f"{copy_name(spec.name, copy)}.log"
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
        running = RunningService(spec, port, process, log_path, copy)
        self.services[running.name] = running
        return running

    def wait_healthy(self, service: RunningService, deadline: float) -> None:
        url = service.base_url + service.spec.health_path
        last = "no answer"
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise StartError(f"{service.name} exited with {service.process.returncode}:\n{service.log_tail()}")
            try:
                response = httpx.get(url, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise StartError(f"{service.name} not healthy at {url} ({last}):\n{service.log_tail()}")

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
        old = self.services[name]
        self.stop(name, kill=kill)
        self.wait_healthy(self._spawn(old.spec, old.copy), time.monotonic() + timeout)

    def stop_all(self) -> None:
        # Ingress first, emulator last, so in-flight work drains downstream.
        order = ["gateway", "admin", "trigger_filter", "fetcher", "importer", "aurora_sim"]
        for name in sorted(self.services, key=lambda n: order.index(self.services[n].spec.name)):
            service = self.services.get(name)
            if service is not None and service.process.poll() is None:
                # A stopped (SIGSTOP) copy would never act on SIGTERM.
                service.process.send_signal(signal.SIGCONT)
            self.stop(name)

    def url(self, name: str) -> str:
        return self.services[name].base_url
