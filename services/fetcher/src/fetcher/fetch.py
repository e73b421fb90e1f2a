"""One fetch job: Aurora's current state of a project → `aurora.project.fetched`, and what each failure means.

Aurora's errors follow the client's taxonomy:
- transient (timeouts, 5xx, 429 beyond the client's own retries): the job goes back to the queue with
  exponential backoff and jitter (at least Aurora's Retry-After); after `max_attempts` it is dead-lettered;
- 401: the integration needs attention and the job is parked; `resume_parked_imports` or the admin's
  re-sync completes it once the token is replaced;
- 403/404 (and other permanent errors): logged in the integration log with Aurora's message, dead-lettered.

ProjectFetched is published before the job is marked done: a crash in between fetches again and publishes
the same event id, which the importer applies once.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import asyncpg

from fetcher.credentials import CredentialStore
from fetcher.metrics import FETCH_JOBS, FETCH_QUEUE_WAIT, FETCH_SECONDS
from fetcher.queue import FetchJob, FetchQueue
from fetcher.settings import FetcherSettings
from fetcher.snapshot import SnapshotReader
from pipeline_common import topics
from pipeline_common.aurora import (
    AuroraError,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    RateLimited,
)
from pipeline_common.broker import publish_event
from pipeline_common.events import (
    CURRENT_TRACEPARENT,
    ImportRequested,
    ProjectFetched,
    cloudevent_headers,
    derive_event_id,
    utcnow,
)
from pipeline_common.integration_log import mark_needs_attention, write_log
from pipeline_common.logs import get_logger
from pipeline_common.metrics import DEAD_LETTERS, EVENTS_FAILED, EVENTS_OUT, EVENTS_SKIPPED, RETRIES
from pipeline_common.stage import ATTEMPT_HEADER
from pipeline_common.vocabulary import LogKind

log = get_logger(__name__)
STAGE = "fetcher"
SOURCE = "/fetcher"


class Fetcher:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        broker: Any,
        queue: FetchQueue,
        credentials: CredentialStore,
        reader: SnapshotReader,
        settings: FetcherSettings,
        owner: str,
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.queue = queue
        self.credentials = credentials
        self.reader = reader
        self.settings = settings
        self.policy = settings.retry_policy()
        self.owner = owner

    async def run(self, job: FetchJob) -> None:
        try:
            await self._run(job)
        except Exception as exc:
            # An outcome could not be recorded (database or broker down while routing a failure): try the
            # plainest one; if even that fails, the scheduler's sweep returns the job to the queue.
            log.exception("fetch_job_outcome_failed", job_id=job.id)
            await self.queue.retry_later(job, self.owner, self.policy.delay(job.attempts), _describe(exc))

    async def _run(self, job: FetchJob) -> None:
        FETCH_QUEUE_WAIT.observe(max(0.0, (utcnow() - job.created_at).total_seconds()))
        request = job.request
        access = await self.credentials.get(job.integration_id)
        if access is None or access.status == "disconnected":
            EVENTS_SKIPPED.labels(STAGE, "integration_gone").inc()
            await self._log(request, LogKind.SKIPPED, "integration is disconnected; import not fetched")
            await self.queue.complete(job, self.owner, note="integration disconnected")
            FETCH_JOBS.labels("skipped").inc()
            return
        if access.status == "needs_attention":
            await self._park(job, "integration needs attention (Aurora rejected the token)")
            return

        started = time.perf_counter()
        try:
            snapshot = await self.reader.read(request, access.credentials)
        except InvalidCredentials as exc:
            current = await self.credentials.get(job.integration_id, fresh=True)
            used = access.credentials.token.get_secret_value()
            if current is not None and current.credentials.token.get_secret_value() != used:
                # The company replaced the token while this fetch used the old one: try again with the new.
                await self._retry(job, "token_replaced", str(exc))
            else:
                await self._needs_attention(job, f"Aurora rejected the token: {exc.message}")
            return
        except (NotPermitted, NotFound) as exc:
            await self._log(request, LogKind.FETCH_ERROR, f"Aurora {exc.status} on {exc.endpoint}: {exc.message}")
            await self._dead_letter(job, f"aurora_{exc.status}", str(exc))
            return
        except RateLimited as exc:
            await self._retry(job, "aurora_rate_limited", str(exc), at_least=exc.retry_after or 0.0)
            return
        except AuroraError as exc:
            if exc.retryable:
                await self._retry(job, "aurora_transient", str(exc))
            else:
                await self._log(request, LogKind.FETCH_ERROR, f"Aurora {exc.status} on {exc.endpoint}: {exc.message}")
                await self._dead_letter(job, "aurora_permanent", str(exc))
            return
        except Exception as exc:
            # The database or the document store failing mid-read: worth another try, within the bound.
            await self._retry(job, type(exc).__name__, _describe(exc))
            return
        elapsed = time.perf_counter() - started
        FETCH_SECONDS.observe(elapsed)

        fetched_id = derive_event_id(request.event_id, "fetch")
        event = ProjectFetched(
            event_id=fetched_id,
            causation_id=request.event_id,
            company_id=request.company_id,
            integration_id=request.integration_id,
            aurora_tenant_id=request.aurora_tenant_id,
            aurora_project_id=request.aurora_project_id,
            aurora_design_id=snapshot.design.design_id,
            design_rule=snapshot.design.rule,
            reason=request.reason,
            trigger=request.trigger,
            backfill_id=request.backfill_id,
            snapshot=snapshot.data,
            documents=snapshot.documents,
            agreement_signed_at=snapshot.agreement_signed_at,
            documents_not_fetched=snapshot.documents_not_fetched,
            received_at=request.received_at,
            fetched_at=utcnow(),
        )
        trace = CURRENT_TRACEPARENT.set(job.traceparent)
        try:
            await publish_event(
                self.broker,
                event,
                event_id=fetched_id,
                source=SOURCE,
                key=topics.message_key(request.integration_id, request.aurora_project_id),
                subject=request.aurora_project_id,
            )
        except Exception as exc:
            await self._retry(job, "publish_failed", _describe(exc))
            return
        finally:
            CURRENT_TRACEPARENT.reset(trace)
        EVENTS_OUT.labels(STAGE, topics.PROJECT_FETCHED).inc()
        if not await self.queue.complete(job, self.owner):
            log.warning("fetch_job_taken_over", job_id=job.id, aurora_project_id=job.aurora_project_id)
        FETCH_JOBS.labels("fetched").inc()
        log.info(
            "project_fetched",
            job_id=job.id,
            event_id=request.event_id,
            coalesced_event_ids=list(job.coalesced_event_ids),
            aurora_project_id=request.aurora_project_id,
            design_id=snapshot.design.design_id,
            design_rule=snapshot.design.rule,
            documents=len(snapshot.documents),
            documents_not_fetched=len(snapshot.documents_not_fetched),
            fetch_ms=round(elapsed * 1000, 1),
        )

    # --- outcomes ---------------------------------------------------------------------------------

    async def _retry(self, job: FetchJob, code: str, error: str, *, at_least: float = 0.0) -> None:
        EVENTS_FAILED.labels(STAGE, code).inc()
        if self.policy.exhausted(job.attempts):
            await self._log(job.request, LogKind.FETCH_ERROR, f"gave up after {job.attempts} attempts: {error}")
            await self._dead_letter(job, code, error)
            return
        delay = max(at_least, self.policy.delay(job.attempts))
        await self.queue.retry_later(job, self.owner, delay, error)
        RETRIES.labels(STAGE).inc()
        FETCH_JOBS.labels("retried").inc()
        log.warning(
            "fetch_retry_scheduled",
            job_id=job.id,
            code=code,
            error=error[:500],
            attempt=job.attempts,
            delay_s=round(delay, 3),
            aurora_project_id=job.aurora_project_id,
        )

    async def _dead_letter(self, job: FetchJob, code: str, error: str) -> None:
        request = job.request
        headers = {
            **cloudevent_headers(request, event_id=request.event_id, source=SOURCE, subject=request.aurora_project_id),
            "x-error": error[:2000],
            "x-error-code": code,
            "x-stage": STAGE,
            ATTEMPT_HEADER: str(job.attempts),
            "x-failed-at": f"{time.time():.3f}",
            "x-original-topic": topics.IMPORT_REQUESTED,
            "x-coalesced-event-ids": ",".join(job.coalesced_event_ids),
        }
        await self.broker.publish(
            request.to_bytes(),
            topic=topics.dlq_topic(topics.IMPORT_REQUESTED),
            key=topics.message_key(request.integration_id, request.aurora_project_id),
            headers=headers,
        )
        await self.queue.fail(job, self.owner, f"{code}: {error}")
        DEAD_LETTERS.labels(STAGE).inc()
        FETCH_JOBS.labels("dead_lettered").inc()
        log.error(
            "dead_lettered",
            job_id=job.id,
            code=code,
            error=error[:500],
            attempt=job.attempts,
            aurora_project_id=job.aurora_project_id,
        )

    async def _park(self, job: FetchJob, reason: str) -> None:
        request = job.request
        # The parked queue row is the one record of a parked import (view `parked_imports`): replacing the
        # token resumes them all, and a re-sync of the project merges into its parked job and resumes it.
        await self.queue.park(job, self.owner, reason)
        await write_log(
            self.pool,
            company_id=request.company_id,
            integration_id=request.integration_id,
            kind=LogKind.PARKED,
            message=f"import parked: {reason}; it completes on re-sync after the token is fixed",
            event_id=request.event_id,
            aurora_project_id=request.aurora_project_id,
            details={"coalesced_event_ids": list(job.coalesced_event_ids)},
        )
        EVENTS_SKIPPED.labels(STAGE, "parked").inc()
        FETCH_JOBS.labels("parked").inc()
        log.warning("import_parked", job_id=job.id, reason=reason, aurora_project_id=request.aurora_project_id)

    async def _needs_attention(self, job: FetchJob, reason: str) -> None:
        request = job.request
        if await mark_needs_attention(
            self.pool, company_id=request.company_id, integration_id=request.integration_id, reason=reason
        ):
            log.warning("integration_needs_attention", integration_id=request.integration_id, reason=reason)
        self.credentials.forget(request.integration_id)
        await self._park(job, reason)

    async def _log(self, request: ImportRequested, kind: LogKind, message: str) -> None:
        await write_log(
            self.pool,
            company_id=request.company_id,
            integration_id=request.integration_id,
            kind=kind,
            message=message,
            event_id=request.event_id,
            aurora_project_id=request.aurora_project_id,
        )


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()
