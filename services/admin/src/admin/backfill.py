"""Backfill: import the Aurora projects a company's triggers would have imported had the integration existed.

The admin only records the backfill and queues its walk: one `fetch_queue` job of kind `backfill_scan`
(migration 0006). The fetcher that holds the company's lease walks Aurora's projects step by step through
the same limiter as the company's imports, queues what it finds at backfill priority, and keeps the
`scanned`/`found`/`queued` counters; the importer counts `imported`/`skipped`/`failed`. So one process
spends a key's budget, and the company's live events go first (services/fetcher/src/fetcher/backfill_scan.py,
services/fetcher/README.md). What a backfill can and cannot find: services/admin/README.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from pipeline_common.logs import get_logger

log = get_logger("admin.backfill")

BACKFILL_COLS = (
    "id, integration_id, status, params, found, queued, imported, skipped, failed, error, created_at, "
    "finished_at, scanned, scan_finished_at, updated_at"
)


class BackfillRunningError(Exception):
    """A walk of this integration is still going on (one at a time)."""


async def create(
    pool: asyncpg.Pool[Any],
    backfill_id: uuid.UUID,
    integration_id: uuid.UUID,
    company_id: uuid.UUID,
    params: dict[str, Any],
) -> None:
    """The backfill row and its scan job, in one transaction (LISTEN wakes a fetcher at commit)."""
    async with pool.acquire() as conn, conn.transaction():
        # One walk at a time per integration: two concurrent starts serialise on this lock.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", f"backfill:{integration_id}")
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM backfill_progress WHERE integration_id = $1 AND status = 'running' "
            "AND scan_finished_at IS NULL)",
            integration_id,
        ):
            raise BackfillRunningError
        await conn.execute(
            "INSERT INTO backfills (id, integration_id, params) VALUES ($1, $2, $3)",
            backfill_id,
            integration_id,
            params,
        )
        # The fetcher's queue is the fetcher's: the admin asks through its documented function (0015).
        await conn.execute("SELECT queue_backfill_scan($1, $2, $3)", backfill_id, integration_id, company_id)
    log.info("backfill_queued", backfill_id=str(backfill_id), integration_id=str(integration_id))


async def refresh(pool: asyncpg.Pool[Any], backfill_id: uuid.UUID) -> Any:
    """The backfill as its three owners left it (view `backfill_progress`, migration 0016): completed once
    the walk is over and every queued import has an outcome."""
    return await pool.fetchrow(f"SELECT {BACKFILL_COLS} FROM backfill_progress WHERE id = $1", backfill_id)  # noqa: S608


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
