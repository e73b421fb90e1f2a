"""Field history of a project: where each value came from (migration 0017 records it, this API reads it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from admin.errors import error_responses, not_found
from admin.resources import Resources, resources
from admin.security import CurrentCompany
from pipeline_common.mapping_catalog import STANDARD_MAPPINGS
from pipeline_common.vocabulary import ChangeSource

router = APIRouter(prefix="/v1", tags=["crm"])
Res = Annotated[Resources, Depends(resources)]
# The standard mapping that writes a column, by its target (`project.title` → `project.name`).
_STANDARD_SOURCE = {m.target: m.source for m in STANDARD_MAPPINGS}


class FieldChange(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 41,
                    "field": "contact.phone",
                    "old_value": "+1 512 555 0100",
                    "new_value": "+1 512 555 0199",
                    "source": "aurora_import",
                    "event_id": "5d1f…",
                    "mapping": "project.customer_phone",
                    "changed_at": "2026-01-05T10:00:00Z",
                }
            ]
        }
    )

    id: int
    field: str = Field(description="project.<column>, contact.<column> or custom.<property key>")
    old_value: Any = Field(description="null when the field had no value")
    new_value: Any
    source: ChangeSource = Field(description="aurora_import, reapply, two_way, api (a person), database (by hand)")
    event_id: str | None = Field(description="the pipeline event that caused it (an import's event id)")
    mapping: str | None = Field(description="for an import: the Aurora path of the mapping that wrote it")
    changed_at: datetime


class FieldHistory(BaseModel):
    items: list[FieldChange]
    next_before: int | None = Field(description="pass as `before` for older changes")


@router.get(
    "/projects/{project_id}/history",
    response_model=FieldHistory,
    summary="Where each value of a project came from",
    description="Every change to the project, its contact and its custom values, newest first: old and new "
    "value, who made it (an Aurora import, a re-apply, the two-way flow, a person through the API), the event "
    "and, for imports, the mapping. Recorded in the same transaction as the change.",
    responses=error_responses(401, 404),
)
async def project_history(
    project_id: uuid.UUID,
    company: CurrentCompany,
    res: Res,
    field: Annotated[str | None, Query(max_length=200, description="only this field, e.g. contact.phone")] = None,
    before: Annotated[int | None, Query(ge=1, description="only changes older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FieldHistory:
    async with res.pool.acquire() as conn:
        project = await conn.fetchrow(
            "SELECT id, contact_id FROM projects WHERE id = $1 AND company_id = $2", project_id, company.id
        )
        if project is None:
            raise not_found("project")
        rows = await conn.fetch(
            "SELECT id, field, old_value, new_value, source, event_id, changed_at FROM field_changes "
            "WHERE company_id = $1 AND (project_id = $2 OR ($3::uuid IS NOT NULL AND contact_id = $3)) "
            "AND ($4::text IS NULL OR field = $4) AND ($5::bigint IS NULL OR id < $5) "
            "ORDER BY id DESC LIMIT $6",
            company.id,
            project_id,
            project["contact_id"],
            field,
            before,
            limit + 1,
        )
        custom_paths = {
            f"custom.{r['key']}": r["aurora_path"]
            for r in await conn.fetch(
                "SELECT p.key, m.aurora_path FROM custom_mappings m JOIN custom_properties p "
                "ON p.id = m.custom_property_id WHERE p.company_id = $1",
                company.id,
            )
        }
    items = [
        FieldChange(
            **dict(r),
            mapping=(_STANDARD_SOURCE.get(r["field"]) or custom_paths.get(r["field"]))
            if r["source"] in (ChangeSource.AURORA_IMPORT, ChangeSource.REAPPLY)
            else None,
        )
        for r in rows[:limit]
    ]
    return FieldHistory(items=items, next_before=items[-1].id if len(rows) > limit else None)
