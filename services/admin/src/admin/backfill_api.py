"""Backfill routes: start a walk of the tenant's Aurora projects and watch its progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from admin import backfill
from admin.backfill import BACKFILL_COLS, BackfillRunningError, estimated_seconds_left
from admin.errors import ApiError, error_responses, not_found
from admin.resources import Resources, resources
from admin.security import CurrentCompany
from admin.store import require_live
from pipeline_common.integration_log import write_log
from pipeline_common.vocabulary import LogKind

router = APIRouter(prefix="/v1/integrations/aurora", tags=["aurora integration"])
Res = Annotated[Resources, Depends(resources)]


class BackfillRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"created_after": "2025-06-01T00:00:00Z", "limit": 200}]}
    )

    created_after: datetime | None = Field(default=None, description="only Aurora projects created after this")
    limit: int | None = Field(default=None, ge=1, le=100_000, description="at most this many projects to import")


class BackfillOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "c4a2…",
                    "status": "running",
                    "params": {"created_after": "2025-06-01T00:00:00+00:00", "limit": 200},
                    "scanned": 140,
                    "found": 52,
                    "queued": 50,
                    "imported": 31,
                    "skipped": 2,
                    "failed": 0,
                    "estimated_seconds_left": 95.0,
                    "error": None,
                    "created_at": "2026-01-05T10:00:00Z",
                    "scan_finished_at": None,
                    "finished_at": None,
                }
            ]
        }
    )

    id: uuid.UUID
    status: Literal["running", "completed", "failed"]
    params: dict[str, Any]
    scanned: int = Field(description="Aurora projects looked at")
    found: int = Field(description="projects a trigger would have imported")
    queued: int = Field(description="sent to the fetch and import stages")
    imported: int
    skipped: int = Field(description="already in the CRM, or skipped by the matching strategy")
    failed: int
    estimated_seconds_left: float | None
    error: str | None
    created_at: datetime
    scan_finished_at: datetime | None
    finished_at: datetime | None


def _out(row: Any) -> BackfillOut:
    data = {k: row[k] for k in BackfillOut.model_fields if k != "estimated_seconds_left"}
    return BackfillOut(**data, estimated_seconds_left=estimated_seconds_left(row))


@router.post(
    "/backfill",
    status_code=202,
    response_model=BackfillOut,
    summary="Import the existing Aurora projects the triggers would have imported",
    description="Walks the tenant's projects, newest first, in the fetcher, after the company's live events. A "
    "project-status trigger matches the project's current status; an agreement trigger matches projects "
    "with a design marked *sold* (Aurora cannot list agreements). Re-running imports nothing twice.",
    responses=error_responses(401, 404, 409, 422),
)
async def start_backfill(body: BackfillRequest, company: CurrentCompany, res: Res) -> BackfillOut:
    row = await require_live(res.pool, company.id)
    if row["status"] != "active":
        raise ApiError(409, "needs_attention", f"the integration needs attention first: {row['status_reason']}")
    backfill_id = uuid.uuid4()
    params = body.model_dump(mode="json", exclude_none=True)
    try:
        await backfill.create(res.pool, backfill_id, row["id"], company.id, params)
    except BackfillRunningError:
        raise ApiError(409, "backfill_running", "a backfill is already walking Aurora for this company") from None
    await write_log(
        res.pool,
        company_id=company.id,
        integration_id=row["id"],
        kind=LogKind.BACKFILL,
        message=f"backfill {backfill_id} started",
        details={"backfill_id": str(backfill_id), **params},
    )
    created = await res.pool.fetchrow(f"SELECT {BACKFILL_COLS} FROM backfill_progress WHERE id = $1", backfill_id)  # noqa: S608
    return _out(created)


@router.get(
    "/backfill/{backfill_id}",
    response_model=BackfillOut,
    summary="Progress of a backfill",
    responses=error_responses(401, 404),
)
async def get_backfill(backfill_id: uuid.UUID, company: CurrentCompany, res: Res) -> BackfillOut:
    owner = await res.pool.fetchval(
        "SELECT i.company_id FROM backfills b JOIN integrations i ON i.id = b.integration_id WHERE b.id = $1",
        backfill_id,
    )
    if owner != company.id:
        raise not_found("backfill")
    return _out(await backfill.refresh(res.pool, backfill_id))
