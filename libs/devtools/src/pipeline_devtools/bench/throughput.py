"""3. Throughput: many companies pushing imports as fast as the pipeline takes them.

Each company has its own emulator tenant and key, with the limit raised (the fetcher's limiter too), so
Aurora's 90/min is not what is measured. Projects are created in bulk first; then senders fire signed
webhooks at the gateway in a closed loop: at most `throughput_window` imports are in flight (sent, not yet
seen on `project.imported`), so the pipeline sets the pace. Sustained rate is counted after a warm-up;
Kafka lag per stage group, the fetch queue and the outbox are sampled; CPU and peak RSS per process come
from psutil on the services, Kafka, PostgreSQL and the bench itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import httpx
import psutil

from pipeline_devtools.bench.latency import observer_for, project_pool
from pipeline_devtools.bench.observer import Seen
from pipeline_devtools.bench.settings import BenchSettings
from pipeline_devtools.bench.stack import BenchStack, SignedProject, say


def _listener_pid(port: int) -> int | None:
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return int(conn.pid)
    return None


def watched_processes(stack: BenchStack) -> dict[str, list[psutil.Process]]:
    found: dict[str, list[psutil.Process]] = {}
    for name, pid in stack.pids().items():
        with contextlib.suppress(psutil.Error):
            found[name] = [psutil.Process(pid)]
    kafka_port = int(stack.run.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])
    db_port = int(stack.database.url.rsplit(":", 1)[1].split("/")[0]) if ":" in stack.database.url else 5432
    kafka = _listener_pid(kafka_port)
    if kafka:
        with contextlib.suppress(psutil.Error):
            found["kafka"] = [psutil.Process(kafka)]
    postgres = _listener_pid(db_port)
    if postgres:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(postgres)
            found["postgres (all backends)"] = [root, *root.children(recursive=True)]
    found["bench (load + observer)"] = [psutil.Process(os.getpid())]
    return found


class ProcessMeter:
    """CPU seconds over the window (as % of one core) and the peak RSS seen while sampling."""

    def __init__(self, processes: dict[str, list[psutil.Process]]) -> None:
        self.processes = processes
        self.cpu_start = {name: self._cpu(ps) for name, ps in processes.items()}
        self.peak_rss = dict.fromkeys(processes, 0)
        self.started = time.monotonic()

    @staticmethod
    def _cpu(processes: list[psutil.Process]) -> float:
        total = 0.0
        for p in processes:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def sample(self) -> None:
        for name, processes in self.processes.items():
            rss = 0
            for p in processes:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            self.peak_rss[name] = max(self.peak_rss[name], rss)

    def report(self) -> dict[str, dict[str, float]]:
        elapsed = time.monotonic() - self.started
        return {
            name: {
                "cpu_percent_of_one_core": round((self._cpu(ps) - self.cpu_start[name]) / elapsed * 100, 1),
                "peak_rss_mb": round(self.peak_rss[name] / 2**20, 1),
            }
            for name, ps in self.processes.items()
        }


async def run(stack: BenchStack, settings: BenchSettings, client: httpx.AsyncClient) -> dict[str, Any]:
    companies = await stack.connect_companies(
        client, "throughput", settings.throughput_companies, limit_per_minute=settings.raised_limit_per_minute
    )
    say(f"  creating {settings.throughput_projects_per_company} projects in bulk for {len(companies)} companies each …")
    needed = round(settings.throughput_projects_per_company * 0.28 * len(companies))
    pool = await project_pool(stack, client, companies, needed)
    say(f"  {len(pool)} signed projects ready; closed loop with at most {settings.throughput_window} in flight")
    window = asyncio.Semaphore(settings.throughput_window)
    done_times: list[float] = []
    in_flight: set[str] = set()

    def on_imported(project_id: str, seen: Seen) -> None:
        if project_id in in_flight:
            in_flight.discard(project_id)
            done_times.append(time.monotonic())
            window.release()

    observer = observer_for(stack, all_topics=False)
    observer.on_imported = on_imported
    await observer.start()
    queue: asyncio.Queue[SignedProject] = asyncio.Queue()
    for project in pool:
        queue.put_nowait(project)
    errors = 0
    stop = asyncio.Event()

    async def sender() -> None:
        nonlocal errors
        while not stop.is_set():
            await window.acquire()
            if stop.is_set():
                window.release()
                return
            try:
                project = queue.get_nowait()
            except asyncio.QueueEmpty:
                window.release()
                return
            in_flight.add(project.project_id)
            _, _, status = await stack.fire(client, project)
            if status != 200:
                errors += 1
                if project.project_id in in_flight:
                    in_flight.discard(project.project_id)
                    window.release()

    meter = ProcessMeter(watched_processes(stack))
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    senders = [asyncio.create_task(sender()) for _ in range(settings.throughput_senders)]
    try:
        while time.monotonic() - started < settings.throughput_seconds:
            await asyncio.sleep(min(1.0, settings.sample_seconds))
            meter.sample()
            elapsed = time.monotonic() - started
            if not samples or elapsed - samples[-1]["t"] >= settings.sample_seconds - 0.01:
                lag = await stack.lag()
                backlog = await stack.backlog([c.integration_id for c in companies])
                samples.append(
                    {"t": round(elapsed, 1), "imported": len(done_times), "in_flight": len(in_flight), **lag, **backlog}
                )
                say(
                    f"  t={elapsed:5.1f}s imported {len(done_times):6d} in flight {len(in_flight):4d} "
                    f"lag tf/fe/im {lag['trigger_filter']}/{lag['fetcher']}/{lag['importer']} "
                    f"fetch queue {backlog['fetch_pending']}+{backlog['fetch_in_progress']} "
                    f"outbox {backlog['outbox_unpublished']}"
                )
            if queue.empty() and not in_flight:
                break
    finally:
        stop.set()
        for _ in senders:
            window.release()
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        ended = time.monotonic()
        processes = meter.report()
        await observer.stop()
    duration = ended - started
    warmup = min(10.0, duration * 0.15)
    steady = [t for t in done_times if t - started >= warmup]
    sustained = len(steady) / (duration - warmup) if duration > warmup and steady else None
    backlog_series = [s["trigger_filter"] + s["fetcher"] + s["importer"] + s["fetch_pending"] for s in samples]
    half = len(backlog_series) // 2
    bounded = None
    if half:
        bounded = max(backlog_series[half:]) <= 1.1 * max(backlog_series[:half]) + 10
    exhausted = queue.empty()
    say(f"  sustained {sustained or 0:.1f} imports/s; {len(done_times)} imported in {duration:.0f} s")
    return {
        "status": "ok" if sustained is not None else "failed",
        "companies": len(companies),
        "projects_available": len(pool),
        "project_pool_exhausted": exhausted,
        "measured_seconds": round(duration, 1),
        "warmup_seconds": round(warmup, 1),
        "imported": len(done_times),
        "sustained_per_second": round(sustained, 2) if sustained is not None else None,
        "webhook_errors": errors,
        "window": settings.throughput_window,
        "samples": samples,
        "backlog_peak": max(backlog_series) if backlog_series else None,
        "backlog_bounded": bounded,
        "processes": processes,
    }
