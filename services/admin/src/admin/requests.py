"""Requests, the CRM's pre-sale opportunities: `POST/GET /v1/requests`, `GET/PATCH /v1/requests/{id}`.

A request has a title, a value, a contact, a property address and a project type, and sits in a stage of
the company's request workflow (request_workflow.py); every stage it entered is in its stage history. The
Aurora link columns (`aurora_project_id`, `aurora_project_url`, `linked_at`) and `project_id` (the project a
signed request became) are read-only here: the two-way flow sets them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from admin.crm import CONTACT_COLS, Contact, Limit, Offset, Page, page_of
from admin.errors import error_responses, field_errors, not_found
from admin.idempotency import IDEMPOTENCY_RESPONSES, IdempotencyKey, create_once
from admin.record_input import (
    ADDRESS_COLUMNS,
    Conn,
    DealFields,
    address_errors,
    full_address,
    resolve_contact,
)
from admin.request_workflow import RequestStage, default_workflow_id, first_stage_id, stage_in
from admin.resources import Resources, resources
from admin.security import CurrentCompany
from pipeline_common.vocabulary import ProjectType, StageChangeSource

router = APIRouter(prefix="/v1", tags=["requests"])
Res = Annotated[Resources, Depends(resources)]

_EDITABLE: Final = ("title", "value", "project_type", *ADDRESS_COLUMNS)
_SELECT: Final = (
    "SELECT r.id, r.workflow_id, r.title, r.value, r.contact_id, r.street_address, r.city, r.state, r.postal_code, "
    "r.country, r.full_address, r.latitude, r.longitude, r.project_type, r.aurora_project_id, "
    "r.aurora_project_url, r.linked_at, r.project_id, r.created_at, r.updated_at, "
    "s.id AS stage_id, s.name AS stage_name, s.outcome AS stage_outcome "
    "FROM requests r JOIN request_stages s ON s.id = r.stage_id "
)
_EXAMPLE_IN: Final[dict[str, Any]] = {
    "title": "Doe residence - 8 kW",
    "value": 24500,
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
_EXAMPLE_OUT: Final[dict[str, Any]] = {
    "id": "4c2d…",
    "title": "Doe residence - 8 kW",
    "value": "24500.00",
    "contact_id": "c0a1…",
    "street_address": "42 Mesquite Ln",
    "city": "Mesa",
    "state": "AZ",
    "postal_code": "85201",
    "country": "USA",
    "full_address": "42 Mesquite Ln, Mesa, AZ 85201, USA",
    "latitude": 33.4152,
    "longitude": -111.8315,
    "project_type": "residential",
    "workflow_id": "e41b…",
    "stage": {"id": "a1…", "name": "New Request", "outcome": "open"},
    "aurora_project_id": None,
    "aurora_project_url": None,
    "linked_at": None,
    "project_id": None,
    "created_at": "2026-01-05T10:00:00Z",
    "updated_at": "2026-01-05T10:00:00Z",
}


class RequestCreate(DealFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE_IN]})

    title: str = Field(min_length=1, max_length=300)
    stage_id: uuid.UUID | None = Field(
        default=None, description="A stage of the default request workflow; its first stage when left out"
    )


class RequestUpdate(DealFields):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"stage_id": "a2…"}, {"value": 26000, "title": "Doe - 9 kW"}]}
    )

    title: str | None = Field(default=None, min_length=1, max_length=300)
    stage_id: uuid.UUID | None = Field(default=None, description="Move the request to this stage of its workflow")


class RequestSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_OUT]})

    id: uuid.UUID
    title: str
    value: Decimal | None
    contact_id: uuid.UUID | None
    street_address: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    full_address: str | None
    latitude: float | None
    longitude: float | None
    project_type: ProjectType | None
    workflow_id: uuid.UUID
    stage: RequestStage
    aurora_project_id: str | None = Field(description="The linked Aurora project; null until linked")
    aurora_project_url: str | None
    linked_at: datetime | None
    project_id: uuid.UUID | None = Field(description="The CRM project this request became; null until then")
    created_at: datetime
    updated_at: datetime


class StageChange(BaseModel):
    stage: RequestStage
    from_stage: RequestStage | None
    source: StageChangeSource = Field(description="user (through the API) or aurora (a pre-sale event)")
    event_id: str | None
    changed_at: datetime


class RequestDetail(RequestSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_EXAMPLE_OUT,
                    "contact": {"id": "c0a1…", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com"},
                    "stage_history": [
                        {
                            "stage": {"id": "a1…", "name": "New Request", "outcome": "open"},
                            "from_stage": None,
                            "source": "user",
                            "event_id": None,
                            "changed_at": "2026-01-05T10:00:00Z",
                        }
                    ],
                }
            ]
        }
    )

    contact: Contact | None
    stage_history: list[StageChange]


def _summary(row: Any) -> RequestSummary:
    data = dict(row)
    stage = RequestStage(id=data.pop("stage_id"), name=data.pop("stage_name"), outcome=data.pop("stage_outcome"))
    return RequestSummary(**data, stage=stage)


async def _detail(conn: Conn, company_id: uuid.UUID, request_id: uuid.UUID) -> RequestDetail | None:
    row = await conn.fetchrow(_SELECT + "WHERE r.id = $1 AND r.company_id = $2", request_id, company_id)
    if row is None:
        return None
    contact = None
    if row["contact_id"] is not None:
        c = await conn.fetchrow(f"SELECT {CONTACT_COLS} FROM contacts WHERE id = $1", row["contact_id"])  # noqa: S608
        contact = Contact(**dict(c)) if c is not None else None
    history = await conn.fetch(
        "SELECT h.source, h.event_id, h.changed_at, s.id, s.name, s.outcome, f.id AS f_id, f.name AS f_name, "
        "f.outcome AS f_outcome FROM request_stage_history h JOIN request_stages s ON s.id = h.stage_id "
        "LEFT JOIN request_stages f ON f.id = h.from_stage_id WHERE h.request_id = $1 ORDER BY h.id",
        request_id,
    )
    changes = [
        StageChange(
            stage=RequestStage(id=h["id"], name=h["name"], outcome=h["outcome"]),
            from_stage=RequestStage(id=h["f_id"], name=h["f_name"], outcome=h["f_outcome"]) if h["f_id"] else None,
            source=h["source"],
            event_id=h["event_id"],
            changed_at=h["changed_at"],
        )
        for h in history
    ]
    return RequestDetail(**_summary(row).model_dump(), contact=contact, stage_history=changes)


async def _record_stage(conn: Conn, request_id: uuid.UUID, before: uuid.UUID | None, after: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO request_stage_history (request_id, from_stage_id, stage_id, source) VALUES ($1, $2, $3, $4)",
        request_id,
        before,
        after,
        StageChangeSource.USER,
    )


async def _create(conn: Conn, company_id: uuid.UUID, body: RequestCreate) -> RequestDetail:
    fields = body.model_dump()
    errors = address_errors(fields)
    workflow_id = await default_workflow_id(conn, company_id)
    stage_id = body.stage_id or await first_stage_id(conn, workflow_id)
    if body.stage_id is not None and not await stage_in(conn, workflow_id, body.stage_id):
        errors.append(("stage_id", "unknown stage"))
    contact_id = await resolve_contact(conn, company_id, body, errors)
    if errors:
        raise field_errors(errors)
    columns = {c: fields[c] for c in _EDITABLE}
    columns["title"] = body.title.strip()
    columns["full_address"] = full_address(fields)
    request_id = uuid.uuid4()
    await conn.execute(
        f"INSERT INTO requests (id, company_id, workflow_id, stage_id, contact_id, {', '.join(columns)}) "  # noqa: S608
        f"VALUES ($1, $2, $3, $4, $5, {', '.join(f'${i + 6}' for i in range(len(columns)))})",
        request_id,
        company_id,
        workflow_id,
        stage_id,
        contact_id,
        *columns.values(),
    )
    await _record_stage(conn, request_id, None, stage_id)
    detail = await _detail(conn, company_id, request_id)
    assert detail is not None
    return detail


@router.post(
    "/requests",
    status_code=201,
    response_model=RequestDetail,
    summary="Create a request (a pre-sale opportunity)",
    description="`title` is required; the request starts in the first stage of the company's default request "
    "workflow unless `stage_id` names another. An address is optional, but one that is given has "
    "`street_address` and `postal_code`; `value` is not negative. The contact is an existing `contact_id` or an "
    "inline `contact`. Send an `Idempotency-Key` to retry safely.",
    responses={**error_responses(401), **IDEMPOTENCY_RESPONSES},
    openapi_extra={"requestBody": {"content": {"application/json": {"example": _EXAMPLE_IN}}}},
)
async def create_request(
    body: RequestCreate, company: CurrentCompany, res: Res, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    async def make(conn: Conn) -> RequestDetail:
        return await _create(conn, company.id, body)

    return await create_once(res, company.id, idempotency_key, "POST /v1/requests", body, make)


@router.get(
    "/requests",
    response_model=Page[RequestSummary],
    summary="List requests, newest first",
    responses=error_responses(401),
)
async def list_requests(
    company: CurrentCompany,
    res: Res,
    stage_id: Annotated[uuid.UUID | None, Query(description="only requests in this stage")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[RequestSummary]:
    rows = await res.pool.fetch(
        _SELECT + "WHERE r.company_id = $1 AND ($2::uuid IS NULL OR r.stage_id = $2) "
        "ORDER BY r.created_at DESC, r.id LIMIT $3 OFFSET $4",
        company.id,
        stage_id,
        limit + 1,
        offset,
    )
    items, next_offset = page_of([_summary(r) for r in rows], limit, offset)
    return Page[RequestSummary](items=items, next_offset=next_offset)


@router.get(
    "/requests/{request_id}",
    response_model=RequestDetail,
    summary="Retrieve a request with its contact and stage history",
    responses=error_responses(401, 404),
)
async def get_request(request_id: uuid.UUID, company: CurrentCompany, res: Res) -> RequestDetail:
    async with res.pool.acquire() as conn:
        detail = await _detail(conn, company.id, request_id)
    if detail is None:
        raise not_found("request")
    return detail


@router.patch(
    "/requests/{request_id}",
    response_model=RequestDetail,
    summary="Change a request or move it to another stage",
    description="Only the fields sent change; `null` clears one (not `title` or `stage_id`). A new `stage_id` "
    "is recorded in the stage history.",
    responses=error_responses(401, 404, 422),
    openapi_extra={"requestBody": {"content": {"application/json": {"example": {"stage_id": "a2…"}}}}},
)
async def update_request(
    request_id: uuid.UUID, body: RequestUpdate, company: CurrentCompany, res: Res
) -> RequestDetail:
    sent = body.model_fields_set
    async with res.pool.acquire() as conn, conn.transaction():
        current = await conn.fetchrow(
            "SELECT * FROM requests WHERE id = $1 AND company_id = $2 FOR UPDATE", request_id, company.id
        )
        if current is None:
            raise not_found("request")
        errors: list[tuple[str, str]] = []
        for required in ("title", "stage_id"):
            if required in sent and getattr(body, required) is None:
                errors.append((required, "must not be null"))
        columns: dict[str, Any] = {c: getattr(body, c) for c in _EDITABLE if c in sent}
        if sent & set(ADDRESS_COLUMNS):
            merged = {c: columns.get(c, current[c]) for c in ADDRESS_COLUMNS}
            errors += address_errors(merged)
            columns["full_address"] = full_address(merged)
        if sent & {"contact_id", "contact"}:
            columns["contact_id"] = await resolve_contact(conn, company.id, body, errors)
        new_stage = body.stage_id if body.stage_id != current["stage_id"] else None
        if new_stage is not None and not await stage_in(conn, current["workflow_id"], new_stage):
            errors.append(("stage_id", "unknown stage"))
        if errors:
            raise field_errors(errors)
        if new_stage is not None:
            columns["stage_id"] = new_stage
        if columns.get("title"):
            columns["title"] = columns["title"].strip()
        if columns:
            await conn.execute(
                "UPDATE requests SET "  # noqa: S608 - fixed column names
                + ", ".join(f"{c} = ${i + 3}" for i, c in enumerate(columns))
                + ", updated_at = now() WHERE id = $1 AND company_id = $2",
                request_id,
                company.id,
                *columns.values(),
            )
        if new_stage is not None:
            await _record_stage(conn, request_id, current["stage_id"], new_stage)
        detail = await _detail(conn, company.id, request_id)
    assert detail is not None
    return detail
