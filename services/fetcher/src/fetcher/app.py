"""fetcher: `aurora.import.requested` → fetch queue → Aurora's current state → `aurora.project.fetched`.

The Kafka handler never calls Aurora: it records the request in the durable fetch queue (merging it into a
waiting job for the same project) and returns, so the offset is committed once the job is in Postgres. The
scheduler claims jobs fairly across companies and runs them (see scheduler.py, fetch.py, README.md).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker

from fetcher.backfill_scan import BackfillScanner
from fetcher.credentials import CredentialStore
from fetcher.fetch import STAGE, Fetcher
from fetcher.intake import Intake
from fetcher.metrics import FETCH_ENQUEUED
from fetcher.queue import Enqueued, FetchJob, FetchQueue, Leases
from fetcher.scheduler import Scheduler
from fetcher.settings import FetcherSettings
from fetcher.snapshot import SnapshotReader
from pipeline_common import topics
from pipeline_common.aurora import AuroraCall, AuroraClient, AuroraSettings, RateLimiter
from pipeline_common.events import ImportRequested
from pipeline_common.health import Progress, ReadinessCheck
from pipeline_common.integration_log import write_log
from pipeline_common.logs import get_logger
from pipeline_common.metrics import AURORA_CALLS, AURORA_LIMITER_WAIT, EVENTS_SKIPPED
from pipeline_common.secrets import TokenCipher
from pipeline_common.service import StageWiring, stage_service
from pipeline_common.settings import CryptoSettings, DatabaseSettings
from pipeline_common.stage import REPLAYED_HEADER
from pipeline_common.vocabulary import FetchJobKind, LogKind

log = get_logger(__name__)


def record_call(call: AuroraCall) -> None:
    AURORA_CALLS.labels(call.endpoint, str(call.status) if call.status is not None else "error").inc()
    AURORA_LIMITER_WAIT.observe(call.rate_limit_wait_seconds)


def owner_id() -> str:
    """Names this copy in lease rows and job claims; unique per start, so a restart never inherits claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# Queue outcomes the company sees in its integration log: (log kind, message).
_LOGGED_OUTCOMES = {
    Enqueued.COALESCED: (
        LogKind.COALESCED,
        "merged into the project's fetch that was already waiting; one fetch reads the current state",
    ),
    Enqueued.REPLAYED: (LogKind.REPLAYED, "the failed import was sent back by an operator; fetching it again"),
}


async def enqueue(
    pool: asyncpg.Pool[Any], queue: FetchQueue | Intake, request: ImportRequested, *, replay: bool = False
) -> Enqueued:
    result, job_id = await (
        queue.submit(request, replay=replay) if isinstance(queue, Intake) else queue.enqueue(request, replay=replay)
    )
    FETCH_ENQUEUED.labels(result.value).inc()
    if result is Enqueued.UNKNOWN_INTEGRATION:
        EVENTS_SKIPPED.labels(STAGE, "integration_gone").inc()
        log.warning("import_for_unknown_integration", integration_id=request.integration_id)
        return result
    if result in _LOGGED_OUTCOMES:
        kind, message = _LOGGED_OUTCOMES[result]
        await write_log(
            pool,
            company_id=request.company_id,
            integration_id=request.integration_id,
            kind=kind,
            message=message,
            event_id=request.event_id,
            aurora_project_id=request.aurora_project_id,
            details={"job_id": job_id},
        )
    elif replay and result is Enqueued.DUPLICATE:
        log.warning("replay_ignored", job_id=job_id, reason="the job did not fail: it is done or still running")
    log.info("import_enqueued", result=result.value, job_id=job_id, aurora_project_id=request.aurora_project_id)
    return result


def create_app() -> AsgiFastStream:
    database = DatabaseSettings()
    settings = FetcherSettings()
    state: dict[str, Any] = {}
    jobs_progress = Progress(stage="fetcher.jobs", stall_seconds=300.0)

    @asynccontextmanager
    async def setup(pool: asyncpg.Pool[Any], broker: KafkaBroker) -> AsyncIterator[Any]:
        aurora_settings = AuroraSettings()
        budget = aurora_settings.fetcher_budget_per_minute
        aurora = AuroraClient(
            aurora_settings,
            limiter=RateLimiter(budget, window_seconds=aurora_settings.rate_limit_window_seconds),
            on_call=record_call,
        )
        owner = owner_id()
        queue = FetchQueue(pool)
        credentials = CredentialStore(pool, TokenCipher.from_settings(CryptoSettings()))
        fetcher = Fetcher(
            pool=pool,
            broker=broker,
            queue=queue,
            credentials=credentials,
            reader=SnapshotReader(aurora, pool, settings.max_document_bytes),
            settings=settings,
            owner=owner,
        )
        scanner = BackfillScanner(
            pool=pool, queue=queue, credentials=credentials, aurora=aurora, settings=settings, owner=owner
        )

        async def run_job(job: FetchJob) -> None:
            if job.kind == FetchJobKind.BACKFILL_SCAN:
                await scanner.run(job)
            else:
                await fetcher.run(job)

        dsn = database.database_url.get_secret_value()

        async def listen_connection() -> asyncpg.Connection[Any]:
            return await asyncpg.connect(dsn)

        scheduler = Scheduler(
            queue=queue,
            leases=Leases(pool, owner, settings.lease_ttl_seconds),
            run_job=run_job,
            settings=settings,
            connect=listen_connection,
            progress=jobs_progress,
        )
        state.update(scheduler=scheduler)
        scheduler.start()
        intake = Intake(queue)
        intake.start()
        log.info(
            "fetcher_started",
            owner=owner,
            max_concurrent_integrations=settings.max_concurrent_integrations,
            aurora_requests_per_minute=budget,
        )

        async def handle(event: ImportRequested, headers: dict[str, str]) -> None:
            await enqueue(pool, intake, event, replay=REPLAYED_HEADER in headers)

        try:
            yield handle
        finally:
            await intake.stop()
            await scheduler.stop()
            await aurora.aclose()

    def readiness() -> dict[str, ReadinessCheck]:
        async def scheduler() -> None:
            if not state["scheduler"].running:
                raise RuntimeError("fetch scheduler is not running")

        return {"scheduler": scheduler}

    # The Kafka handler, the scheduler and the workers use connections at the same time; a connection
    # opened on demand costs tens of milliseconds on the latency path, so a few are kept open.
    return stage_service(
        StageWiring(
            name=STAGE,
            input_topic=topics.IMPORT_REQUESTED,
            contract=ImportRequested,
            setup=setup,
            pool_min_size=4,
            # Handlers run concurrently so their inserts share a transaction (intake.py).
            max_workers=settings.consumer_workers,
            extra_progress=[jobs_progress],
            extra_readiness=readiness,
        )
    )
