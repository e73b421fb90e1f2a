"""Projects made and edited in the CRM: `POST /v1/projects`, `PATCH /v1/projects/{id}` (listing, reading and
documents are in crm.py).

`projects` has two writers, on purpose: this API (what a CRM user types) and the importer (what Aurora
sends). They never race on a row: the importer locks the project it matched (FOR UPDATE) and a PATCH's
UPDATE waits for that lock. The match key `address_key` is computed by the database (migration 0003) from
the street and postal code this API writes, so a project made here is found by an import at the same address
with the same customer email or last name (services/importer/src/importer/matching.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from admin.crm import ProjectDetail, project_detail
from admin.errors import error_responses, field_errors, not_found
from admin.idempotency import IDEMPOTENCY_RESPONSES, IdempotencyKey, create_once
from admin.record_input import ADDRESS_COLUMNS, Conn, DealFields, address_errors, full_address, resolve_contact
from admin.resources import Resources, resources
from admin.security import CurrentCompany
from pipeline_common.field_history import declare_change
from pipeline_common.vocabulary import ChangeSource

router = APIRouter(prefix="/v1", tags=["crm"])
Res = Annotated[Resources, Depends(resources)]

# Request field → projects column; `value` is the project's contract value.
_COLUMN_OF: Final = {
    "title": "title",
    "value": "contract_value",
    "project_type": "project_type",
    **{c: c for c in ADDRESS_COLUMNS},
}
_EXAMPLE: Final[dict[str, Any]] = {
    "title": "Jane Doe - 42 Mesquite Ln",
    "value": 28560,
    "contact": {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "phone": "+1 480 555 0100"},
    "street_address": "42 Mesquite Ln",
    "city": "Mesa",
    "state": "AZ",
    "postal_code": "85201",
    "country": "USA",
    "latitude": 33.4152,
    "longitude": -111.8315,
    "project_type": "residential",
}


class ProjectCreate(DealFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                _EXAMPLE,
                {
                    "title": "Roof + battery",
                    "contact_id": "c0a1…",
                    "street_address": "7 Elm St",
                    "postal_code": "85201",
                },
            ]
        },
    )

    title: str = Field(min_length=1, max_length=300)


class ProjectUpdate(DealFields):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"value": 31000, "title": "Jane Doe - 8.4 kW + battery"}]}
    )

    title: str | None = Field(default=None, min_length=1, max_length=300)


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    return {_COLUMN_OF[k]: v for k, v in values.items() if k in _COLUMN_OF}


async def _create(conn: Conn, company_id: uuid.UUID, body: ProjectCreate) -> ProjectDetail:
    fields = body.model_dump()
    errors = address_errors(fields)
    contact_id = await resolve_contact(conn, company_id, body, errors)
    if errors:
        raise field_errors(errors)
    columns = {**_columns(fields), "title": body.title.strip(), "full_address": full_address(fields)}
    project_id = uuid.uuid4()
    names = ", ".join(columns)
    params = ", ".join(f"${i + 4}" for i in range(len(columns)))
    await conn.execute(
        f"INSERT INTO projects (id, company_id, contact_id, source, {names}) "  # noqa: S608 - fixed names
        f"VALUES ($1, $2, $3, 'manual', {params})",
        project_id,
        company_id,
        contact_id,
        *columns.values(),
    )
    detail = await project_detail(conn, company_id, project_id)
    assert detail is not None
    return detail


@router.post(
    "/projects",
    status_code=201,
    response_model=ProjectDetail,
    summary="Create a project in the CRM",
    description="`title` is required. An address is optional, but one that is given has `street_address` and "
    "`postal_code`. `value` is the contract value (returned as `contract_value`). The contact is an existing "
    "`contact_id` or an inline `contact` (an inline contact with a known email is that contact). An Aurora "
    "import at the same address with the same customer email or last name matches this project and applies "
    "the matching strategy to it. Send an `Idempotency-Key` to retry safely.",
    responses={**error_responses(401), **IDEMPOTENCY_RESPONSES},
    openapi_extra={"requestBody": {"content": {"application/json": {"example": _EXAMPLE}}}},
)
async def create_project(
    body: ProjectCreate, company: CurrentCompany, res: Res, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    async def make(conn: Conn) -> ProjectDetail:
        return await _create(conn, company.id, body)

    return await create_once(res, company.id, idempotency_key, "POST /v1/projects", body, make)


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectDetail,
    summary="Change a project",
    description="Only the fields sent change; `null` clears one (not `title`). Works on imported projects too: "
    "the next import applies the matching strategy to what is there then.",
    responses=error_responses(401, 404, 422),
    openapi_extra={"requestBody": {"content": {"application/json": {"example": {"value": 31000}}}}},
)
async def update_project(
    project_id: uuid.UUID, body: ProjectUpdate, company: CurrentCompany, res: Res
) -> ProjectDetail:
    sent = body.model_fields_set
    changes = body.model_dump(include=sent)
    async with res.pool.acquire() as conn, conn.transaction():
        await declare_change(conn, ChangeSource.API)
        current = await conn.fetchrow(
            "SELECT * FROM projects WHERE id = $1 AND company_id = $2 FOR UPDATE", project_id, company.id
        )
        if current is None:
            raise not_found("project")
        errors: list[tuple[str, str]] = []
        if "title" in sent and body.title is None:
            errors.append(("title", "a project keeps a title"))
        columns = _columns(changes)
        if sent & set(ADDRESS_COLUMNS):
            merged = {c: columns.get(c, current[c]) for c in ADDRESS_COLUMNS}
            errors += address_errors(merged)
            columns["full_address"] = full_address(merged)
        if sent & {"contact_id", "contact"}:
            columns["contact_id"] = await resolve_contact(conn, company.id, body, errors)
        if errors:
            raise field_errors(errors)
        if "title" in columns:
            columns["title"] = columns["title"].strip()
        if columns:
            await conn.execute(
                "UPDATE projects SET "  # noqa: S608 - fixed column names
                + ", ".join(f"{c} = ${i + 3}" for i, c in enumerate(columns))
                + ", updated_at = now() WHERE id = $1 AND company_id = $2",
                project_id,
                company.id,
                *columns.values(),
            )
        detail = await project_detail(conn, company.id, project_id)
    assert detail is not None
    return detail
