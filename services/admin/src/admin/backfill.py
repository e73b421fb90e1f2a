"""Backfill: import the Aurora projects a company's triggers would have imported had the integration existed.

Aurora cannot list agreements, so a backfill decides from what it can list:

- a project whose status matches a `project_status_changed` trigger is imported;
- with an `agreement_status_changed` trigger, a project with a design carrying the `sold` milestone is
  imported (signing is what marks a design sold in practice). Agreements that are only sent or viewed
  leave no trace a list call can see, so a backfill cannot find those; nor signed agreements whose design
  was never marked sold.

Projects already linked to a CRM project are skipped. Event ids are derived from (integration, project), so
running the same backfill again republishes the same ids and the stages' dedupe imports nothing twice.

Pacing: the walk uses a budget of its own (`ADMIN_BACKFILL_REQUESTS_PER_MINUTE`, a fraction of Aurora's 90)
on top of the client's per-key limiter, and keeps at most `ADMIN_BACKFILL_MAX_OUTSTANDING` imports queued
but unfinished, so the fetcher always has budget left for the company's live events.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from admin.resources import Resources
from admin.store import credentials, mark_needs_attention, write_log
from pipeline_common.aurora import AuroraError, InvalidCredentials, RateLimited, RateLimiter
from pipeline_common.events import ImportReason, ImportRequested, TriggerRef, derive_event_id
from pipeline_common.logs import get_logger

log = get_logger("admin.backfill")

BACKFILL_COLS = (
    "id, integration_id, status, params, found, queued, imported, skipped, failed, error, created_at, "
    "finished_at, scanned, scan_finished_at, updated_at"
)


def _norm(value: str) -> str:
    return " ".join(value.split()).casefold()


@dataclass(frozen=True)
class Decision:
    trigger: TriggerRef
    design_id: str | None = None


class BackfillRunner:
    """Runs backfill walks as tasks of the admin process; a restart marks unfinished walks failed."""

    def __init__(
        self,
        res: Resources,
        *,
        requests_per_minute: int = 30,
        max_outstanding: int = 20,
        stall_timeout: float = 120.0,
        poll_interval: float = 1.0,
    ) -> None:
        self.res = res
        self.limiter = RateLimiter(requests_per_minute)
        self.max_outstanding = max_outstanding
        self.stall_timeout = stall_timeout
        self.poll_interval = poll_interval
        self._tasks: dict[uuid.UUID, tuple[uuid.UUID, asyncio.Task[None]]] = {}

    async def recover(self) -> None:
        await self.res.pool.execute(
            "UPDATE backfills SET status = 'failed', error = 'interrupted by a restart of the admin service; "
            "start it again (nothing is imported twice)', finished_at = now(), updated_at = now() "
            "WHERE status = 'running' AND scan_finished_at IS NULL"
        )

    def start(self, backfill_id: uuid.UUID, integration_id: uuid.UUID) -> None:
        task = asyncio.create_task(self._run(backfill_id), name=f"backfill-{backfill_id}")
        self._tasks[backfill_id] = (integration_id, task)
        task.add_done_callback(lambda _t: self._tasks.pop(backfill_id, None))

    def cancel_for(self, integration_id: uuid.UUID) -> None:
        for owner, task in list(self._tasks.values()):
            if owner == integration_id:
                task.cancel()

    async def close(self) -> None:
        tasks = [t for _, t in self._tasks.values()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _run(self, backfill_id: uuid.UUID) -> None:
        res = self.res
        bf: Any = await res.pool.fetchrow("SELECT integration_id, params FROM backfills WHERE id = $1", backfill_id)
        integration: Any = await res.pool.fetchrow(
            "SELECT id, company_id, aurora_tenant_id, token_ciphertext, status FROM integrations WHERE id = $1",
            bf["integration_id"],
        )
        try:
            await self._walk(backfill_id, integration, bf["params"])
            await res.pool.execute(
                "UPDATE backfills SET scan_finished_at = now(), updated_at = now() WHERE id = $1", backfill_id
            )
            await self.refresh(backfill_id)
        except asyncio.CancelledError:
            await res.pool.execute(
                "UPDATE backfills SET status = 'failed', error = coalesce(error, 'cancelled'), "
                "finished_at = coalesce(finished_at, now()), updated_at = now() WHERE id = $1 AND status = 'running'",
                backfill_id,
            )
            raise
        except Exception as exc:
            reason = str(exc) if isinstance(exc, AuroraError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, InvalidCredentials):
                await mark_needs_attention(res, integration, f"Aurora rejected the stored token: {exc.message}")
            log.warning("backfill_failed", backfill_id=str(backfill_id), error=reason)
            await res.pool.execute(
                "UPDATE backfills SET status = 'failed', error = $2, finished_at = now(), updated_at = now() "
                "WHERE id = $1",
                backfill_id,
                reason,
            )
            await write_log(
                res.pool,
                company_id=integration["company_id"],
                integration_id=integration["id"],
                kind="backfill",
                message=f"backfill {backfill_id} failed: {reason}",
                details={"backfill_id": str(backfill_id)},
            )

    async def _aurora(self, key: str, call: Any) -> Any:
        """One Aurora call inside the backfill's own budget; a 429 pauses the walk instead of failing it."""
        for _ in range(20):
            async with self.limiter.slot(key):
                try:
                    return await call()
                except RateLimited as exc:
                    self.limiter.pause(key, exc.retry_after or 5.0)
        raise RateLimited("Aurora kept answering 429 during the backfill")

    async def _walk(self, backfill_id: uuid.UUID, integration: Any, params: dict[str, Any]) -> None:
        res = self.res
        creds = credentials(res, integration)
        key = creds.key_fingerprint
        integration_id = integration["id"]
        created_after = datetime.fromisoformat(params["created_after"]) if params.get("created_after") else None
        limit: int | None = params.get("limit")
        rules = await res.pool.fetch("SELECT kind, statuses FROM triggers WHERE integration_id = $1", integration_id)
        project_statuses = {_norm(s) for r in rules if r["kind"] == "project_status_changed" for s in r["statuses"]}
        wants_sold = any(r["kind"] == "agreement_status_changed" for r in rules)
        per_page = res.settings.backfill_page_size
        page = 1
        found = 0
        while True:
            batch = await self._aurora(key, lambda p=page: res.aurora.list_projects(creds, page=p, per_page=per_page))
            for project in batch:
                if created_after and project.created_at and project.created_at < created_after:
                    return  # newest first: everything after this is older still
                if limit is not None and found >= limit:
                    return
                await res.pool.execute(
                    "UPDATE backfills SET scanned = scanned + 1, updated_at = now() WHERE id = $1", backfill_id
                )
                decision: Decision | None = None
                if project.status and _norm(project.status) in project_statuses:
                    decision = Decision(TriggerRef(kind="backfill", status=f"project status {project.status}"))
                elif wants_sold:
                    designs = await self._aurora(key, lambda pid=project.id: res.aurora.list_designs(creds, pid))
                    sold = [d for d in designs if (d.milestone_name or "").lower() == "sold"]
                    if sold:
                        decision = Decision(TriggerRef(kind="backfill", status="design milestone sold"), sold[0].id)
                if decision is None:
                    continue
                found += 1
                await self._queue(backfill_id, integration, project.id, decision)
            if len(batch) < per_page:
                return
            page += 1

    async def _queue(self, backfill_id: uuid.UUID, integration: Any, project_id: str, decision: Decision) -> None:
        res = self.res
        exists = await res.pool.fetchval(
            "SELECT 1 FROM projects WHERE company_id = $1 AND aurora_project_id = $2",
            integration["company_id"],
            project_id,
        )
        if exists:
            await res.pool.execute(
                "UPDATE backfills SET found = found + 1, skipped = skipped + 1, updated_at = now() WHERE id = $1",
                backfill_id,
            )
            return
        await self._wait_for_room(backfill_id)
        event_id = derive_event_id(f"backfill:{integration['id']}:{project_id}", "admin")
        event = ImportRequested(
            event_id=event_id,
            causation_id=str(backfill_id),
            company_id=str(integration["company_id"]),
            integration_id=str(integration["id"]),
            aurora_tenant_id=integration["aurora_tenant_id"],
            aurora_project_id=project_id,
            design_id=decision.design_id,
            reason=ImportReason.BACKFILL,
            trigger=decision.trigger,
            backfill_id=str(backfill_id),
            received_at=datetime.now(UTC),
        )
        from admin.integration import publish_import

        await publish_import(res, event)
        await res.pool.execute(
            "UPDATE backfills SET found = found + 1, queued = queued + 1, updated_at = now() WHERE id = $1",
            backfill_id,
        )

    async def _wait_for_room(self, backfill_id: uuid.UUID) -> None:
        # Back-pressure on the importer's progress; if the counters stop moving (a stage down), carry on
        # after `stall_timeout` rather than hang forever: the events wait safely in Kafka.
        waited = 0.0
        last_done = -1
        while True:
            row: Any = await self.res.pool.fetchrow(
                "SELECT queued, imported + skipped + failed AS done FROM backfills WHERE id = $1", backfill_id
            )
            if row["queued"] - row["done"] < self.max_outstanding:
                return
            if row["done"] != last_done:
                last_done, waited = row["done"], 0.0
            if waited >= self.stall_timeout:
                return
            await asyncio.sleep(self.poll_interval)
            waited += self.poll_interval

    async def refresh(self, backfill_id: uuid.UUID) -> Any:
        """The row, marking it completed once the walk is over and every queued import has an outcome."""
        await self.res.pool.execute(
            "UPDATE backfills SET status = 'completed', finished_at = now(), updated_at = now() "
            "WHERE id = $1 AND status = 'running' AND scan_finished_at IS NOT NULL "
            "AND imported + skipped + failed >= found",
            backfill_id,
        )
        return await self.res.pool.fetchrow(f"SELECT {BACKFILL_COLS} FROM backfills WHERE id = $1", backfill_id)  # noqa: S608


def estimated_seconds_left(row: Any, now: datetime | None = None) -> float | None:
    """From the pace so far: outstanding imports ÷ imports finished per second. None while unknowable."""
    if row["status"] != "running":
        return 0.0 if row["status"] == "completed" else None
    done = row["imported"] + row["skipped"] + row["failed"]
    outstanding = row["found"] - done
    if row["scan_finished_at"] is not None and outstanding <= 0:
        return 0.0
    elapsed = ((now or datetime.now(UTC)) - row["created_at"]).total_seconds()
    if done <= 0 or elapsed <= 0:
        return None
    rate = float(done) / elapsed
    left: float = float(max(outstanding, 0)) / rate
    return round(left, 1)
