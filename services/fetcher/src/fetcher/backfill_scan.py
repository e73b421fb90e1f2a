"""The backfill walk, as queue work of the company's lease holder (README.md, "Backfill scans").

The admin's `POST /v1/integrations/aurora/backfill` records the backfill and queues one `backfill_scan` job.
Each claim of that job is one **step** of the walk: at most one Aurora call (the next page of projects, or one
project's designs), then the job waits again. The company's live jobs go before it (priority), and so do the
imports it found (the claim order puts scan steps last within backfill work): the walk never runs ahead of
what the key's budget lets the imports follow, and a live event waits at most one call of the walk. Every
call goes through the fetcher's client, so one limiter sees every bulk use of the key.

What a backfill imports (Aurora cannot list agreements):
- a project whose current status matches a `project_status_changed` trigger;
- with an `agreement_status_changed` trigger, a project with a design carrying the `sold` milestone (or
  `installed`, which only follows a sale); the import uses that design.
Projects already linked to a CRM project are counted as skipped, without a designs call. Import event ids
are derived from (integration, project) as before, so a re-run queues nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from fetcher.credentials import CredentialStore, IntegrationAccess
from fetcher.queue import Enqueued, FetchJob, FetchQueue
from fetcher.settings import FetcherSettings
from pipeline_common.aurora import AuroraClient, AuroraError, InvalidCredentials, NotFound, RateLimited
from pipeline_common.events import ImportReason, ImportRequested, TriggerRef, derive_event_id
from pipeline_common.integration_log import mark_needs_attention, write_log
from pipeline_common.logs import get_logger
from pipeline_common.vocabulary import LogKind, TriggerKind

log = get_logger(__name__)

SOLD_MILESTONES = frozenset({"sold", "installed"})


def _norm(value: str) -> str:
    return " ".join(value.split()).casefold()


def import_event_id(integration_id: str, aurora_project_id: str) -> str:
    """The same id for the same project in every backfill of the integration: a re-run imports nothing twice."""
    return derive_event_id(f"backfill:{integration_id}:{aurora_project_id}", "admin")


@dataclass
class Step:
    """Counter increments of one step, written with the cursor in one statement."""

    scanned: int = 0
    found: int = 0
    queued: int = 0
    skipped: int = 0
    calls: int = 0


class ScanFailedError(Exception):
    """The walk cannot go on (integration gone, token rejected, a permanent Aurora error)."""


class BackfillScanner:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        queue: FetchQueue,
        credentials: CredentialStore,
        aurora: AuroraClient,
        settings: FetcherSettings,
        owner: str,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.credentials = credentials
        self.aurora = aurora
        self.settings = settings
        self.policy = settings.retry_policy()
        self.owner = owner

    async def run(self, job: FetchJob) -> None:
        try:
            await self._run(job)
        except Exception as exc:
            log.exception("backfill_scan_outcome_failed", job_id=job.id)
            await self.queue.retry_later(job, self.owner, self.policy.delay(job.attempts), repr(exc))

    async def _run(self, job: FetchJob) -> None:
        backfill_id = str(job.payload["backfill_id"])
        bf = await self.pool.fetchrow(
            "SELECT p.id, p.status, p.params, coalesce(s.scan_state, '{}') AS scan_state, p.scan_finished_at "
            "FROM backfill_progress p LEFT JOIN backfill_scans s ON s.backfill_id = p.id WHERE p.id = $1::uuid",
            backfill_id,
        )
        if bf is None or bf["status"] != "running" or bf["scan_finished_at"] is not None:
            await self.queue.complete(job, self.owner, note="backfill no longer running")
            return
        try:
            access = await self.credentials.get(job.integration_id)
            if access is None or access.status == "disconnected":
                raise ScanFailedError("the integration was disconnected")
            if access.status == "needs_attention":
                raise ScanFailedError("the integration needs attention (Aurora rejected the token)")
            finished = await self._step(job, backfill_id, bf, access)
        except ScanFailedError as exc:
            await self._fail(job, backfill_id, str(exc))
            return
        except InvalidCredentials as exc:
            reason = f"Aurora rejected the stored token: {exc.message}"
            await self._needs_attention(job, reason)
            await self._fail(job, backfill_id, str(exc))
            return
        except NotFound as exc:
            await self._fail(job, backfill_id, str(exc))
            return
        except (RateLimited, AuroraError) as exc:
            retryable = isinstance(exc, RateLimited) or exc.retryable
            if not retryable or self.policy.exhausted(job.attempts):
                await self._fail(job, backfill_id, str(exc))
                return
            at_least = (exc.retry_after or 0.0) if isinstance(exc, RateLimited) else 0.0
            delay = max(at_least, self.policy.delay(job.attempts))
            log.warning("backfill_scan_retry", backfill_id=backfill_id, error=str(exc)[:300], delay_s=round(delay, 2))
            await self.queue.retry_later(job, self.owner, delay, str(exc))
            return
        if finished:
            await self.pool.execute(
                "INSERT INTO backfill_scans (backfill_id, scan_finished_at) VALUES ($1::uuid, now()) "
                "ON CONFLICT (backfill_id) DO UPDATE SET scan_finished_at = now(), updated_at = now()",
                backfill_id,
            )
            await self.queue.complete(job, self.owner, note="walk finished")
            log.info("backfill_scan_finished", backfill_id=backfill_id)
        else:
            await self.queue.step_done(job, self.owner)

    async def _step(self, job: FetchJob, backfill_id: str, bf: Any, access: IntegrationAccess) -> bool:
        """One step: at most one Aurora call, at most one import queued. True once the walk is over."""
        params: dict[str, Any] = dict(bf["params"] or {})
        state: dict[str, Any] = dict(bf["scan_state"] or {})
        state.setdefault("page", 0)
        state.setdefault("pending", [])
        state.setdefault("found", 0)
        created_after = datetime.fromisoformat(params["created_after"]) if params.get("created_after") else None
        limit: int | None = params.get("limit")
        rules = await self.pool.fetch(
            "SELECT kind, statuses FROM triggers WHERE integration_id = $1::uuid", job.integration_id
        )
        project_statuses = {_norm(s) for r in rules if r["kind"] == "project_status_changed" for s in r["statuses"]}
        wants_sold = any(r["kind"] == TriggerKind.AGREEMENT_STATUS_CHANGED for r in rules)
        creds = access.credentials
        step = Step()
        finished = False
        while True:
            if limit is not None and state["found"] >= limit:
                finished = True
                break
            if not state["pending"]:
                if state.get("last_page") or step.calls:
                    finished = bool(state.get("last_page"))
                    break
                per_page = self.settings.backfill_page_size
                page = state["page"] + 1
                batch = await self.aurora.list_projects(creds, page=page, per_page=per_page)
                step.calls += 1
                state["page"] = page
                state["last_page"] = len(batch) < per_page
                pending = []
                for project in batch:
                    if created_after and project.created_at and project.created_at < created_after:
                        state["last_page"] = True  # newest first: everything after this is older still
                        break
                    pending.append({"id": project.id, "status": project.status})
                state["pending"] = pending
                continue
            project = state["pending"][0]
            linked = await self.pool.fetchval(
                "SELECT 1 FROM projects WHERE company_id = $1::uuid AND aurora_project_id = $2",
                job.company_id,
                project["id"],
            )
            trigger: TriggerRef | None = None
            design_id: str | None = None
            if linked:
                pass
            elif project.get("status") and _norm(project["status"]) in project_statuses:
                trigger = TriggerRef(kind="backfill", status=f"project status {project['status']}")
            elif wants_sold:
                if step.calls:
                    break  # one Aurora call per step: the company's other work goes first
                try:
                    designs = await self.aurora.list_designs(creds, project["id"])
                except NotFound:
                    designs = []  # deleted since the page was listed
                step.calls += 1
                sold = [d for d in designs if (d.milestone_name or "").casefold() in SOLD_MILESTONES]
                if sold:
                    chosen = next((d for d in sold if (d.milestone_name or "").casefold() == "sold"), sold[0])
                    trigger = TriggerRef(kind="backfill", status=f"design milestone {chosen.milestone_name}")
                    design_id = chosen.id
            state["pending"].pop(0)
            step.scanned += 1
            if linked:
                state["found"] += 1
                step.found += 1
                step.skipped += 1
                continue
            if trigger is None:
                continue
            state["found"] += 1
            step.found += 1
            if await self._queue_import(job, backfill_id, project["id"], trigger, design_id):
                step.queued += 1
            else:
                step.skipped += 1
            break  # the import goes before the walk's next step
        await self.pool.execute(
            "INSERT INTO backfill_scans AS s (backfill_id, scan_state, scanned, found, queued, skipped) "
            "VALUES ($1::uuid, $2, $3, $4, $5, $6) ON CONFLICT (backfill_id) DO UPDATE SET "
            "scan_state = EXCLUDED.scan_state, scanned = s.scanned + EXCLUDED.scanned, "
            "found = s.found + EXCLUDED.found, queued = s.queued + EXCLUDED.queued, "
            "skipped = s.skipped + EXCLUDED.skipped, updated_at = now()",
            backfill_id,
            state,
            step.scanned,
            step.found,
            step.queued,
            step.skipped,
        )
        return finished

    async def _queue_import(
        self, job: FetchJob, backfill_id: str, project_id: str, trigger: TriggerRef, design_id: str | None
    ) -> bool:
        """Into the fetch queue at backfill priority (no Kafka round trip). False when it was imported or
        queued already by an earlier backfill."""
        tenant = await self.pool.fetchval(
            "SELECT aurora_tenant_id FROM integration_directory WHERE id = $1::uuid", job.integration_id
        )
        event_id = import_event_id(job.integration_id, project_id)
        request = ImportRequested(
            event_id=event_id,
            causation_id=backfill_id,
            company_id=job.company_id,
            integration_id=job.integration_id,
            aurora_tenant_id=tenant,
            aurora_project_id=project_id,
            design_id=design_id,
            reason=ImportReason.BACKFILL,
            trigger=trigger,
            backfill_id=backfill_id,
            received_at=datetime.now(UTC),
        )
        result, job_id = await self.queue.enqueue(request)
        if result is Enqueued.DUPLICATE:
            # This backfill's own import queued by a step whose cursor was not saved (a crash): it counts.
            owner = await self.pool.fetchval("SELECT payload->>'backfill_id' FROM fetch_queue WHERE id = $1", job_id)
            return bool(owner == backfill_id)
        if result is Enqueued.UNKNOWN_INTEGRATION:
            raise ScanFailedError("the integration was deleted")
        return True

    async def _fail(self, job: FetchJob, backfill_id: str, reason: str) -> None:
        log.warning("backfill_failed", backfill_id=backfill_id, error=reason)
        await self.pool.execute(
            "INSERT INTO backfill_scans AS s (backfill_id, error, failed_at) VALUES ($1::uuid, $2, now()) "
            "ON CONFLICT (backfill_id) DO UPDATE SET error = coalesce(s.error, EXCLUDED.error), "
            "failed_at = coalesce(s.failed_at, EXCLUDED.failed_at), updated_at = now()",
            backfill_id,
            reason[:2000],
        )
        await write_log(
            self.pool,
            company_id=job.company_id,
            integration_id=job.integration_id,
            kind=LogKind.BACKFILL,
            message=f"backfill {backfill_id} failed: {reason}",
            details={"backfill_id": backfill_id},
        )
        await self.queue.complete(job, self.owner, note=f"backfill failed: {reason}"[:2000])

    async def _needs_attention(self, job: FetchJob, reason: str) -> None:
        await mark_needs_attention(
            self.pool, company_id=job.company_id, integration_id=job.integration_id, reason=reason
        )
        self.credentials.forget(job.integration_id)
