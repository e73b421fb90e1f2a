"""The integration log a company reads, with filters and paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from admin.errors import error_responses
from admin.resources import Resources, resources
from admin.schemas import (
    LogEntry,
    LogPage,
)
from admin.security import CurrentCompany

router = APIRouter(prefix="/v1/integrations/aurora", tags=["aurora integration"])
Res = Annotated[Resources, Depends(resources)]


# ---------------------------------------------------------------- log


@router.get(
    "/log",
    response_model=LogPage,
    summary="The integration log, newest first",
    description="Every webhook received, trigger decision (with the reason when skipped), fetch error and import "
    "result, plus settings changes. Entries of one event share its `event_id`. Page with `before`.",
    responses=error_responses(401, 422),
)
async def read_log(
    company: CurrentCompany,
    res: Res,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, description="only entries older than this id")] = None,
    kind: Annotated[str | None, Query(max_length=50, description="e.g. webhook, import, fetch_error")] = None,
    aurora_project_id: Annotated[str | None, Query(max_length=200)] = None,
) -> LogPage:
    rows = await res.pool.fetch(
        "SELECT id, event_id, kind, aurora_project_id, crm_project_id, action, message, details, created_at "
        "FROM integration_log WHERE company_id = $1 AND ($2::bigint IS NULL OR id < $2) "
        "AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR aurora_project_id = $4) "
        "ORDER BY id DESC LIMIT $5",
        company.id,
        before,
        kind,
        aurora_project_id,
        limit + 1,
    )
    items = [LogEntry(**dict(r)) for r in rows[:limit]]
    return LogPage(items=items, next_before=items[-1].id if len(rows) > limit else None)
