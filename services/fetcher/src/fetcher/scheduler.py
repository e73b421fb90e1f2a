"""Claims fetch jobs fairly and runs them, one company at a time per key, many companies at once.

Each round takes the integrations that have a due job and whose Aurora key is free or already ours, orders
them round-robin (the company served least recently first; live work before backfill-only work), and for
each, while a worker slot is free: holds the company's lease, claims its next job, and runs it in its own
task. A company never has more than one job in flight here, so a company with hundreds of queued imports
occupies one slot and waits on its own key's rate limit, while another company's single import is claimed
in the same round.

A lease is renewed while its company has work and for one rate-limit window after its last job, so the
in-process limiter has seen every call made with the key in the window before another copy may take it.
Rounds run when Postgres notifies a new or resumed job (LISTEN fetch_queue), when a worker finishes, and
every `poll_interval_seconds` as a safety net (due retries, leases expired elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg

from fetcher.metrics import FETCH_LEASE_TAKEOVERS, FETCH_LEASES_HELD, FETCH_QUEUE_JOBS
from fetcher.queue import Claimable, FetchJob, FetchQueue, Leases
from fetcher.settings import FetcherSettings
from pipeline_common.health import Progress
from pipeline_common.logs import get_logger

log = get_logger(__name__)

CHANNEL = "fetch_queue"
Connect = Callable[[], Awaitable["asyncpg.Connection[Any]"]]
RunJob = Callable[[FetchJob], Awaitable[None]]

_MAINTENANCE_EVERY = 5.0
_PURGE_EVERY = 600.0


def fair_order(candidates: list[Claimable], last_served: dict[str, int]) -> list[Claimable]:
    """Live work first, then the company served least recently (never served: first of all)."""
    return sorted(candidates, key=lambda c: (c.priority, last_served.get(c.integration_id, -1)))


class Scheduler:
    def __init__(
        self,
        *,
        queue: FetchQueue,
        leases: Leases,
        run_job: RunJob,
        settings: FetcherSettings,
        connect: Connect | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.queue = queue
        self.leases = leases
        self.run_job = run_job
        self.settings = settings
        self.connect = connect
        self.progress = progress or Progress(stage="fetcher.jobs", stall_seconds=300.0)
        self.owner = leases.owner
        self._wake = asyncio.Event()
        self._busy: dict[str, int] = {}  # integration → job id in flight here
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[str, float] = {}  # integration → when its lease was last confirmed (monotonic)
        self._last_active: dict[str, float] = {}  # integration → end of its last job here (monotonic)
        self._last_served: dict[str, int] = {}
        self._served = 0
        # Rounds and lease upkeep take turns: upkeep must not give back a lease a round is about to use.
        self._lease_lock = asyncio.Lock()
        self._stopping = False
        self._main: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._main = asyncio.create_task(self._loop(), name="fetch-scheduler")
        self._keeper = asyncio.create_task(self._keep_leases(), name="fetch-leases")
        if self.connect is not None:
            self._listener = asyncio.create_task(self._listen(), name="fetch-listen")

    @property
    def running(self) -> bool:
        return self._main is not None and not self._main.done()

    async def stop(self) -> None:
        """Stop claiming, let jobs in hand finish (within the grace period), give the leases back."""
        self._stopping = True
        self._wake.set()
        for task in (self._main, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.settings.shutdown_grace_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        with contextlib.suppress(Exception):
            if pending_jobs := await self.queue.release_orphans(self.owner, set()):
                log.info("fetch_jobs_returned_on_shutdown", jobs=pending_jobs)
            # Another copy may take these companies at once rather than after the lease TTL.
            await self.leases.release(list(self._held))
        self._held.clear()
        FETCH_LEASES_HELD.set(0)

    def wake(self) -> None:
        self._wake.set()

    # --- the loop ---------------------------------------------------------------------------------

    async def _loop(self) -> None:
        next_maintenance = 0.0
        next_purge = time.monotonic() + 60.0
        try:
            while not self._stopping:
                now = time.monotonic()
                if now >= next_maintenance:
                    next_maintenance = now + _MAINTENANCE_EVERY
                    await self._maintain()
                if now >= next_purge:
                    next_purge = now + _PURGE_EVERY
                    purged = await self.queue.purge_finished(timedelta(hours=self.settings.done_retention_hours))
                    if purged:
                        log.info("fetch_jobs_purged", jobs=purged)
                try:
                    await self.round()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("fetch_round_failed", error=repr(exc))
                timeout = self.settings.poll_interval_seconds
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                self._wake.clear()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.failure = exc
            log.critical("fetch_scheduler_died", error=repr(exc))
            raise

    async def round(self) -> list[FetchJob]:
        """One scheduling round; returns the jobs it started (for tests)."""
        free = self.settings.max_concurrent_integrations - len(self._busy)
        if free <= 0 or self._stopping:
            return []
        candidates = [c for c in await self.queue.claimable(self.owner) if c.integration_id not in self._busy]
        started: list[FetchJob] = []
        async with self._lease_lock:
            for candidate in fair_order(candidates, self._last_served):
                if len(started) >= free or self._stopping:
                    break
                if not await self._hold(candidate.integration_id):
                    continue
                job = await self.queue.claim(candidate.integration_id, self.owner)
                if job is None:
                    continue
                self._start(job)
                started.append(job)
        return started

    async def _hold(self, integration_id: str) -> bool:
        confirmed = self._held.get(integration_id)
        # A lease confirmed within a third of its TTL is certainly still ours.
        if confirmed is not None and time.monotonic() - confirmed < self.settings.lease_ttl_seconds / 3:
            return True
        acquired, previous = await self.leases.acquire(integration_id)
        if not acquired:
            self._held.pop(integration_id, None)
            return False
        if previous is not None:
            FETCH_LEASE_TAKEOVERS.inc()
            log.info("fetch_lease_taken_over", integration_id=integration_id, previous_owner=previous)
        self._held[integration_id] = time.monotonic()
        FETCH_LEASES_HELD.set(len(self._held))
        return True

    def _start(self, job: FetchJob) -> None:
        self._busy[job.integration_id] = job.id
        self._served += 1
        self._last_served[job.integration_id] = self._served
        task = asyncio.create_task(self._work(job), name=f"fetch-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, job: FetchJob) -> None:
        self.progress.started()
        try:
            await self.run_job(job)
        except Exception as exc:
            # run_job records every outcome itself; this is the last line (the sweep requeues the job).
            log.error("fetch_job_crashed", job_id=job.id, error=repr(exc))
        finally:
            self.progress.finished()
            self._busy.pop(job.integration_id, None)
            self._last_active[job.integration_id] = time.monotonic()
            self._wake.set()

    async def _maintain(self) -> None:
        try:
            running = set(self._busy.values())
            returned = await self.queue.release_orphans(self.owner, running)
            if returned:
                log.warning("fetch_jobs_requeued", jobs=returned)
            for state, count in (await self.queue.depth()).items():
                FETCH_QUEUE_JOBS.labels(state).set(count)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("fetch_maintenance_failed", error=repr(exc))

    # --- leases -----------------------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        interval = self.settings.lease_ttl_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.keep_leases()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("fetch_lease_renewal_failed", error=repr(exc))

    async def keep_leases(self) -> None:
        async with self._lease_lock:
            await self._keep_leases_locked()

    async def _keep_leases_locked(self) -> None:
        now = time.monotonic()
        linger = self.settings.lease_linger_seconds
        keep = [i for i in self._held if i in self._busy or now - self._last_active.get(i, self._held[i]) < linger]
        idle = [i for i in self._held if i not in keep]
        if idle:
            await self.leases.release(idle)
            for integration_id in idle:
                self._held.pop(integration_id, None)
                self._last_active.pop(integration_id, None)
                self._last_served.pop(integration_id, None)
        still_ours = await self.leases.renew(keep)
        confirmed = time.monotonic()
        for integration_id in keep:
            if integration_id in still_ours:
                self._held[integration_id] = confirmed
            else:
                log.warning("fetch_lease_lost", integration_id=integration_id)
                self._held.pop(integration_id, None)
        FETCH_LEASES_HELD.set(len(self._held))

    # --- notifications ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        assert self.connect is not None
        delay = 0.5
        while True:
            conn: asyncpg.Connection[Any] | None = None
            lost = asyncio.Event()
            try:
                conn = await self.connect()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                delay = 0.5
                self._wake.set()  # anything queued while we were not listening
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("fetch_listen_failed", error=repr(exc), retry_in_s=delay)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, _payload: object) -> None:
        self._wake.set()
