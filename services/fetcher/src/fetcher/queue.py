"""The durable fetch queue (`fetch_queue`, migration 0004) and the per-integration leases on it.

The Kafka consumer only enqueues; workers claim. While a job for an Aurora project is still waiting
(pending or parked), a new event for that project is merged into it instead of queued again: the fetch
reads Aurora's current state, so one fetch serves every event that arrived before it started. Every change
of a project's waiting job takes a transaction-scoped advisory lock on (integration, project), so merges,
retries and parks of the same project never race into the one-waiting-job index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from pipeline_common.events import CURRENT_TRACEPARENT, ImportReason, ImportRequested
from pipeline_common.vocabulary import FetchJobKind, FetchPriority

if TYPE_CHECKING:
    Conn: TypeAlias = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]

TRACEPARENT_KEY = "_traceparent"


def priority_of(request: ImportRequested) -> int:
    """Live events (a trigger, a re-sync) go before backfill work of the same company."""
    return FetchPriority.BACKFILL if request.reason == ImportReason.BACKFILL else FetchPriority.LIVE


class Enqueued(StrEnum):
    QUEUED = "queued"
    COALESCED = "coalesced"
    RESUMED = "resumed"
    REPLAYED = "replayed"
    DUPLICATE = "duplicate"
    UNKNOWN_INTEGRATION = "unknown_integration"


@dataclass(frozen=True)
class FetchJob:
    """An import (payload: the ImportRequested) or one step of a backfill walk (payload: {"backfill_id"})."""

    id: int
    integration_id: str
    company_id: str
    aurora_project_id: str
    event_id: str
    payload: dict[str, Any]
    priority: int
    attempts: int
    created_at: datetime
    coalesced_event_ids: tuple[str, ...]
    kind: str = FetchJobKind.IMPORT
    _request: ImportRequested | None = field(default=None, repr=False, compare=False)

    @property
    def request(self) -> ImportRequested:
        if self._request is None:
            raise TypeError(f"job {self.id} is a {self.kind}, not an import")
        return self._request

    @property
    def traceparent(self) -> str | None:
        value = self.payload.get(TRACEPARENT_KEY)
        return str(value) if value else None

    @property
    def event_ids(self) -> tuple[str, ...]:
        return (self.event_id, *self.coalesced_event_ids)

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> FetchJob:
        kind = row["kind"]
        payload = dict(row["payload"])
        return cls(
            id=row["id"],
            integration_id=row["integration_id"],
            company_id=row["company_id"],
            aurora_project_id=row["aurora_project_id"],
            event_id=row["event_id"],
            payload=payload,
            priority=row["priority"],
            attempts=row["attempts"],
            created_at=row["created_at"],
            coalesced_event_ids=tuple(row["coalesced_event_ids"]),
            kind=kind,
            _request=ImportRequested.model_validate(payload) if kind == FetchJobKind.IMPORT else None,
        )


@dataclass(frozen=True)
class Claimable:
    integration_id: str
    priority: int


async def _lock_project(conn: Conn, integration_id: str, aurora_project_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{integration_id}:{aurora_project_id}")


class FetchQueue:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool

    # --- producer side (the Kafka handler) ----------------------------------------------------------

    async def enqueue(self, request: ImportRequested, *, replay: bool = False) -> tuple[Enqueued, int]:
        """Queue, merge or resume; returns what happened and the job id. Idempotent on the event id, except
        that an operator's replay of a dead letter (`replay`) runs its failed job again."""
        return (await self.enqueue_many([request], replays=[replay]))[0]

    async def enqueue_many(
        self,
        requests: list[ImportRequested],
        traces: list[str | None] | None = None,
        replays: list[bool] | None = None,
    ) -> list[tuple[Enqueued, int]]:
        """`enqueue` for several requests in one transaction (one commit), results in the given order.

        Projects are locked in a fixed order, so concurrent batches (other copies) cannot deadlock; each request
        runs in a savepoint, so one for a deleted integration does not undo the others."""
        results: list[tuple[Enqueued, int] | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: (requests[i].integration_id, requests[i].aurora_project_id))
        retry: list[int] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for i in order:
                try:
                    async with conn.transaction():
                        trace = traces[i] if traces is not None else CURRENT_TRACEPARENT.get()
                        replay = replays[i] if replays is not None else False
                        results[i] = await self._enqueue_locked(conn, requests[i], trace, replay)
                except asyncpg.ForeignKeyViolationError:
                    # The integration was deleted (its rows cascade away): nothing to fetch for.
                    results[i] = (Enqueued.UNKNOWN_INTEGRATION, 0)
                except asyncpg.UniqueViolationError:
                    retry.append(i)
        for i in retry:
            # The same event inserted concurrently by another consumer (a rebalance): it is queued once.
            job_id = await self.pool.fetchval("SELECT id FROM fetch_queue WHERE event_id = $1", requests[i].event_id)
            results[i] = (Enqueued.DUPLICATE, int(job_id or 0))
        return [r if r is not None else (Enqueued.DUPLICATE, 0) for r in results]

    @staticmethod
    async def _enqueue_locked(
        conn: Conn, request: ImportRequested, traceparent: str | None, replay: bool = False
    ) -> tuple[Enqueued, int]:
        await _lock_project(conn, request.integration_id, request.aurora_project_id)
        known = await conn.fetchrow(
            "SELECT id, status FROM fetch_queue WHERE event_id = $1 OR coalesced_event_ids @> ARRAY[$1] "
            # A replayed id may also sit in the waiting job it was merged into: that one answers first.
            "ORDER BY status IN ('pending', 'parked', 'in_progress') DESC, id DESC LIMIT 1",
            request.event_id,
        )
        if known is not None:
            if known["status"] == "failed" and replay:
                return await FetchQueue._rerun_failed(conn, known["id"], request)
            if known["status"] != "parked":
                return Enqueued.DUPLICATE, known["id"]
            # The admin's re-sync sends a parked import again with its own event id: resume it.
            await conn.execute(
                "UPDATE fetch_queue SET status = 'pending', attempts = 0, not_before = now(), "
                "updated_at = now(), last_error = NULL WHERE id = $1",
                known["id"],
            )
            return Enqueued.RESUMED, known["id"]
        row = await conn.fetchrow(
            "INSERT INTO fetch_queue (integration_id, company_id, aurora_project_id, event_id, payload, "
            "priority) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6) "
            "ON CONFLICT (integration_id, aurora_project_id) WHERE status IN ('pending', 'parked') "
            # The merged job keeps its identity (event id, causation, first arrival) and takes the newest
            # trigger information; fields the newer event leaves empty (e.g. an earlier agreement
            # trigger's agreement id) are kept, so the one fetch reads what every merged event needed.
            "DO UPDATE SET payload = fetch_queue.payload || jsonb_strip_nulls(EXCLUDED.payload) || "
            "jsonb_build_object('event_id', fetch_queue.payload->'event_id', "
            "'causation_id', fetch_queue.payload->'causation_id', "
            "'received_at', fetch_queue.payload->'received_at'), "
            "coalesced_event_ids = array_append(fetch_queue.coalesced_event_ids, EXCLUDED.event_id), "
            "priority = LEAST(fetch_queue.priority, EXCLUDED.priority), "
            "status = 'pending', "
            # A new event for a parked project is a re-sync of it; a pending one keeps its backoff.
            "attempts = CASE WHEN fetch_queue.status = 'parked' THEN 0 ELSE fetch_queue.attempts END, "
            "not_before = CASE WHEN fetch_queue.status = 'parked' THEN now() "
            "ELSE fetch_queue.not_before END, "
            "updated_at = now() "
            "RETURNING id, (xmax = 0) AS inserted",
            request.integration_id,
            request.company_id,
            request.aurora_project_id,
            request.event_id,
            # The trace context of the Kafka message rides along in the payload, so the fetch the scheduler
            # runs later continues the same trace (ImportRequested ignores the extra key).
            {**request.model_dump(mode="json"), TRACEPARENT_KEY: traceparent},
            priority_of(request),
        )
        assert row is not None
        return (Enqueued.QUEUED if row["inserted"] else Enqueued.COALESCED), row["id"]

    @staticmethod
    async def _rerun_failed(conn: Conn, job_id: int, request: ImportRequested) -> tuple[Enqueued, int]:
        """An operator replayed the dead letter of a failed job (after fixing the cause): fetch it again.

        A redelivery of the original message still counts as a duplicate; only a replay reopens the job."""
        waiting = await conn.fetchval(
            "SELECT id FROM fetch_queue WHERE integration_id = $1::uuid AND aurora_project_id = $2 "
            "AND status IN ('pending', 'parked')",
            request.integration_id,
            request.aurora_project_id,
        )
        if waiting is None:
            await conn.execute(
                "UPDATE fetch_queue SET status = 'pending', attempts = 0, not_before = now(), finished_at = NULL, "
                "claimed_by = NULL, last_error = NULL, updated_at = now() WHERE id = $1",
                job_id,
            )
            return Enqueued.REPLAYED, job_id
        # The project's waiting job reads Aurora's current state anyway: the replayed events ride with it.
        await conn.execute(
            "UPDATE fetch_queue SET coalesced_event_ids = coalesced_event_ids || "
            "(SELECT ARRAY[event_id] || coalesced_event_ids FROM fetch_queue WHERE id = $2), "
            "priority = LEAST(priority, (SELECT priority FROM fetch_queue WHERE id = $2)), updated_at = now() "
            "WHERE id = $1",
            waiting,
            job_id,
        )
        await conn.execute(
            "UPDATE fetch_queue SET status = 'done', updated_at = now(), "
            "last_error = coalesce(last_error, 'failed') || ' (replayed: merged into job ' || $2::text || ')' "
            "WHERE id = $1",
            job_id,
            str(waiting),
        )
        return Enqueued.COALESCED, int(waiting)

    # --- worker side ----------------------------------------------------------------------------------

    async def claimable(self, owner: str) -> list[Claimable]:
        """Integrations with a due job whose key is free or already ours."""
        rows = await self.pool.fetch(
            "SELECT q.integration_id::text AS integration_id, min(q.priority) AS priority "
            "FROM fetch_queue q LEFT JOIN fetch_leases l ON l.integration_id = q.integration_id "
            "WHERE q.status = 'pending' AND q.not_before <= now() "
            "AND (l.integration_id IS NULL OR l.owner = $1 OR l.expires_at < now()) "
            "GROUP BY q.integration_id",
            owner,
        )
        return [Claimable(r["integration_id"], r["priority"]) for r in rows]

    async def claim(self, integration_id: str, owner: str) -> FetchJob | None:
        """The integration's next due job, live before backfill, oldest first. Hold its lease first.

        Within backfill work, the imports a walk found go before the walk's next step, so the walk runs only
        as far ahead as the key's budget lets the imports follow."""
        row = await self.pool.fetchrow(
            "UPDATE fetch_queue SET status = 'in_progress', attempts = attempts + 1, claimed_by = $2, "
            "claimed_at = now(), updated_at = now() "
            "WHERE id = (SELECT id FROM fetch_queue WHERE integration_id = $1::uuid AND status = 'pending' "
            "AND not_before <= now() ORDER BY priority, kind = 'backfill_scan', id LIMIT 1 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, integration_id::text, company_id::text, aurora_project_id, event_id, payload, priority, "
            "attempts, created_at, coalesced_event_ids, kind",
            integration_id,
            owner,
        )
        return FetchJob.from_row(row) if row is not None else None

    async def complete(self, job: FetchJob, owner: str, *, note: str | None = None) -> bool:
        """False when the job is no longer ours (our lease lapsed and another copy took it over)."""
        status = await self.pool.fetchval(
            "UPDATE fetch_queue SET status = 'done', finished_at = now(), updated_at = now(), last_error = $3 "
            "WHERE id = $1 AND status = 'in_progress' AND claimed_by = $2 RETURNING status",
            job.id,
            owner,
            note,
        )
        return status is not None

    async def fail(self, job: FetchJob, owner: str, error: str) -> None:
        await self.pool.execute(
            "UPDATE fetch_queue SET status = 'failed', finished_at = now(), updated_at = now(), last_error = $3 "
            "WHERE id = $1 AND status = 'in_progress' AND claimed_by = $2",
            job.id,
            owner,
            error[:2000],
        )

    async def step_done(self, job: FetchJob, owner: str) -> bool:
        """A backfill walk's step succeeded: its job waits again (fresh attempts) for the company's next turn."""
        status = await self.pool.fetchval(
            "UPDATE fetch_queue SET status = 'pending', attempts = 0, not_before = now(), updated_at = now(), "
            "last_error = NULL, claimed_by = NULL WHERE id = $1 AND status = 'in_progress' AND claimed_by = $2 "
            "RETURNING status",
            job.id,
            owner,
        )
        return status is not None

    async def retry_later(self, job: FetchJob, owner: str, delay_seconds: float, error: str) -> None:
        await self._back_to_waiting(job, owner, "pending", delay_seconds, error)

    async def park(self, job: FetchJob, owner: str, reason: str) -> None:
        await self._back_to_waiting(job, owner, "parked", 0.0, reason)

    async def _back_to_waiting(self, job: FetchJob, owner: str, status: str, delay: float, error: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await _lock_project(conn, job.integration_id, job.aurora_project_id)
            await self._return_locked(conn, job.id, owner, status, delay, error)

    @staticmethod
    async def _return_locked(conn: Conn, job_id: int, owner: str | None, status: str, delay: float, error: str) -> None:
        """In-progress job → pending/parked; merged into the project's waiting job when a newer one exists."""
        job = await conn.fetchrow(
            "SELECT integration_id, aurora_project_id, event_id, coalesced_event_ids, priority FROM fetch_queue "
            "WHERE id = $1 AND status = 'in_progress' AND ($2::text IS NULL OR claimed_by = $2) FOR UPDATE",
            job_id,
            owner,
        )
        if job is None:
            return
        waiting = await conn.fetchval(
            "SELECT id FROM fetch_queue WHERE integration_id = $1 AND aurora_project_id = $2 "
            "AND status IN ('pending', 'parked') FOR UPDATE",
            job["integration_id"],
            job["aurora_project_id"],
        )
        if waiting is None:
            await conn.execute(
                "UPDATE fetch_queue SET status = $2, not_before = now() + make_interval(secs => $3), "
                "updated_at = now(), last_error = $4, claimed_by = NULL WHERE id = $1",
                job_id,
                status,
                delay,
                error[:2000],
            )
            return
        # A newer event for this project arrived meanwhile; its job reads the current state, so this one
        # is folded into it rather than fetched again.
        await conn.execute(
            "UPDATE fetch_queue SET coalesced_event_ids = coalesced_event_ids || $2::text[], "
            "priority = LEAST(priority, $3), updated_at = now() WHERE id = $1",
            waiting,
            [job["event_id"], *job["coalesced_event_ids"]],
            job["priority"],
        )
        await conn.execute(
            "UPDATE fetch_queue SET status = 'done', finished_at = now(), updated_at = now(), "
            "last_error = $2 WHERE id = $1",
            job_id,
            f"merged into job {waiting} after: {error}"[:2000],
        )

    async def release_orphans(self, owner: str, running: set[int]) -> int:
        """Jobs in progress that nobody is working on go back to the queue: those of a copy whose lease lapsed
        (it died mid-fetch), and this copy's own whose outcome could not be recorded (the database was away)."""
        orphans = await self.pool.fetch(
            "SELECT q.id, q.integration_id::text, q.aurora_project_id FROM fetch_queue q "
            "WHERE q.status = 'in_progress' AND ((q.claimed_by = $1 AND NOT q.id = ANY($2::bigint[])) "
            "OR (q.claimed_by IS DISTINCT FROM $1 AND NOT EXISTS (SELECT 1 FROM fetch_leases l "
            "WHERE l.integration_id = q.integration_id AND l.owner = q.claimed_by AND l.expires_at > now())))",
            owner,
            list(running),
        )
        for orphan in orphans:
            async with self.pool.acquire() as conn, conn.transaction():
                await _lock_project(conn, orphan["integration_id"], orphan["aurora_project_id"])
                await self._return_locked(conn, orphan["id"], None, "pending", 0.0, "no worker had this job")
        return len(orphans)

    async def next_due_in(self) -> float | None:
        """Seconds until the earliest backed-off job becomes due, if any."""
        value = await self.pool.fetchval(
            "SELECT extract(epoch FROM min(not_before) - now()) FROM fetch_queue "
            "WHERE status = 'pending' AND not_before > now()"
        )
        return float(value) if value is not None else None

    async def depth(self) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT status, count(*) AS n FROM fetch_queue WHERE status IN ('pending', 'in_progress', 'parked') "
            "GROUP BY status"
        )
        counts = {"pending": 0, "in_progress": 0, "parked": 0}
        counts.update({r["status"]: r["n"] for r in rows})
        return counts

    async def purge_finished(self, older_than: timedelta) -> int:
        result = await self.pool.execute(
            "DELETE FROM fetch_queue WHERE status IN ('done', 'failed') AND finished_at < now() - $1::interval",
            older_than,
        )
        return int(result.split()[-1])

    async def resume_parked(self, integration_id: str) -> int:
        """Once the company fixed the cause (e.g. replaced its token): every parked import is fetched again."""
        return int(await self.pool.fetchval("SELECT resume_parked_imports($1::uuid)", integration_id))


class Leases:
    """`fetch_leases`: which fetcher copy uses a company's Aurora key right now."""

    def __init__(self, pool: asyncpg.Pool[Any], owner: str, ttl_seconds: float) -> None:
        self.pool = pool
        self.owner = owner
        self.ttl = ttl_seconds

    async def acquire(self, integration_id: str) -> tuple[bool, str | None]:
        """(acquired, previous owner when taken over from another copy)."""
        row = await self.pool.fetchrow(
            "WITH previous AS (SELECT owner FROM fetch_leases WHERE integration_id = $1::uuid) "
            "INSERT INTO fetch_leases (integration_id, owner, expires_at) "
            "VALUES ($1::uuid, $2, now() + make_interval(secs => $3)) "
            "ON CONFLICT (integration_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, "
            "acquired_at = CASE WHEN fetch_leases.owner = EXCLUDED.owner THEN fetch_leases.acquired_at "
            "ELSE now() END "
            "WHERE fetch_leases.owner = EXCLUDED.owner OR fetch_leases.expires_at < now() "
            "RETURNING (SELECT owner FROM previous) AS previous_owner",
            integration_id,
            self.owner,
            self.ttl,
        )
        if row is None:
            return False, None
        previous = row["previous_owner"]
        return True, previous if previous not in (None, self.owner) else None

    async def renew(self, integration_ids: list[str]) -> set[str]:
        """Extends the given leases; returns those still ours."""
        if not integration_ids:
            return set()
        rows = await self.pool.fetch(
            "UPDATE fetch_leases SET expires_at = now() + make_interval(secs => $3) "
            "WHERE owner = $1 AND integration_id = ANY($2::uuid[]) RETURNING integration_id::text",
            self.owner,
            integration_ids,
            self.ttl,
        )
        return {r["integration_id"] for r in rows}

    async def release(self, integration_ids: list[str]) -> None:
        if integration_ids:
            await self.pool.execute(
                "DELETE FROM fetch_leases WHERE owner = $1 AND integration_id = ANY($2::uuid[])",
                self.owner,
                integration_ids,
            )
