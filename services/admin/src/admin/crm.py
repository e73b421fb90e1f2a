"""The CRM resources the integration's settings refer to: workflows, custom properties, projects, contacts,
documents. Every query is scoped by the caller's company, so another company's id is simply not found.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import asyncpg
from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from admin.errors import ApiError, error_responses, not_found, validation_error
from admin.idempotency import IdempotencyKey, create_once
from admin.record_input import Conn
from admin.resources import Resources, resources
from admin.security import CurrentCompany
from pipeline_common.mapping_catalog import PropertyType

router = APIRouter(prefix="/v1", tags=["crm"])
Res = Annotated[Resources, Depends(resources)]

_EX_WORKFLOW: dict[str, Any] = {
    "id": "5d7c…",
    "name": "Residential solar",
    "stages": ["New", "Site survey", "Permit", "Install"],
}


# ---------------------------------------------------------------- workflows


class WorkflowCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Residential solar", "stages": ["New", "Site survey", "Install"]}]}
    )

    name: str = Field(min_length=1, max_length=200)
    stages: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=lambda: ["New"])

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a workflow needs at least one stage")
        return value


class Workflow(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{**_EX_WORKFLOW, "created_at": "2026-01-05T10:00:00Z"}]})

    id: uuid.UUID
    name: str
    stages: list[str]
    created_at: datetime


@router.post(
    "/workflows",
    status_code=201,
    response_model=Workflow,
    summary="Create a workflow template",
    responses=error_responses(401, 409, 422),
)
async def create_workflow(
    body: WorkflowCreate, company: CurrentCompany, res: Res, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    async def make(conn: Conn) -> Workflow:
        try:
            row = await conn.fetchrow(
                "INSERT INTO workflows (id, company_id, name, stages) VALUES ($1, $2, $3, $4) "
                "RETURNING id, name, stages, created_at",
                uuid.uuid4(),
                company.id,
                body.name.strip(),
                body.stages,
            )
        except asyncpg.UniqueViolationError:
            raise ApiError(409, "duplicate_name", f"a workflow named {body.name!r} already exists") from None
        assert row is not None
        return Workflow(**dict(row))

    return await create_once(res, company.id, idempotency_key, "POST /v1/workflows", body, make)


@router.get(
    "/workflows", response_model=list[Workflow], summary="List workflow templates", responses=error_responses(401)
)
async def list_workflows(company: CurrentCompany, res: Res) -> list[Workflow]:
    rows = await res.pool.fetch(
        "SELECT id, name, stages, created_at FROM workflows WHERE company_id = $1 ORDER BY name", company.id
    )
    return [Workflow(**dict(r)) for r in rows]


# ---------------------------------------------------------------- custom properties

_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SELECTS = (PropertyType.SINGLE_SELECT, PropertyType.MULTI_SELECT)


def _check_options(type_: PropertyType, options: list[str]) -> list[str]:
    cleaned = [o.strip() for o in options]
    if type_ in _SELECTS:
        if not cleaned:
            raise ValueError(f"a {type_.value} property needs at least one option")
        if any(not o for o in cleaned):
            raise ValueError("options must not be blank")
        if len({o.casefold() for o in cleaned}) != len(cleaned):
            raise ValueError("options must be unique")
    elif cleaned:
        raise ValueError(f"only single_select and multi_select properties have options, not {type_.value}")
    return cleaned


class CustomPropertyCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"key": "annual_production", "name": "Annual production (kWh)", "type": "number"},
                {"key": "financing_type", "name": "Financing", "type": "single_select", "options": ["cash", "loans"]},
            ]
        }
    )

    key: str = Field(description="lower_snake_case, starts with a letter, at most 63 characters")
    name: str = Field(min_length=1, max_length=200)
    type: PropertyType
    options: list[str] = Field(default_factory=list, description="Required for single_select and multi_select")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY_RE.match(value):
            raise ValueError("must be lower_snake_case, start with a letter and have at most 63 characters")
        return value

    @model_validator(mode="after")
    def _options(self) -> CustomPropertyCreate:
        self.options = _check_options(self.type, self.options)
        return self


class CustomPropertyUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Financing product", "options": ["cash", "loans", "lease"]}]},
    )

    name: str | None = Field(default=None, min_length=1, max_length=200)
    options: list[str] | None = None


class CustomProperty(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9a1f…",
                    "key": "financing_type",
                    "name": "Financing",
                    "type": "single_select",
                    "options": ["cash", "loans"],
                    "created_at": "2026-01-05T10:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    key: str
    name: str
    type: PropertyType
    options: list[str]
    created_at: datetime


_PROP_COLS = "id, key, name, type, options, created_at"


@router.post(
    "/custom-properties",
    status_code=201,
    response_model=CustomProperty,
    summary="Create a custom property",
    responses=error_responses(401, 409, 422),
)
async def create_property(
    body: CustomPropertyCreate, company: CurrentCompany, res: Res, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    async def make(conn: Conn) -> CustomProperty:
        try:
            row = await conn.fetchrow(
                f"INSERT INTO custom_properties (id, company_id, key, name, type, options) "  # noqa: S608
                f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_PROP_COLS}",
                uuid.uuid4(),
                company.id,
                body.key,
                body.name.strip(),
                body.type.value,
                body.options,
            )
        except asyncpg.UniqueViolationError:
            raise ApiError(409, "duplicate_key", f"a custom property with key {body.key!r} already exists") from None
        assert row is not None
        return CustomProperty(**dict(row))

    return await create_once(res, company.id, idempotency_key, "POST /v1/custom-properties", body, make)


@router.get(
    "/custom-properties",
    response_model=list[CustomProperty],
    summary="List custom properties",
    responses=error_responses(401),
)
async def list_properties(company: CurrentCompany, res: Res) -> list[CustomProperty]:
    rows = await res.pool.fetch(
        f"SELECT {_PROP_COLS} FROM custom_properties WHERE company_id = $1 ORDER BY key",  # noqa: S608
        company.id,
    )
    return [CustomProperty(**dict(r)) for r in rows]


async def _property(res: Resources, company_id: uuid.UUID, property_id: uuid.UUID) -> Any:
    row = await res.pool.fetchrow(
        f"SELECT {_PROP_COLS} FROM custom_properties WHERE id = $1 AND company_id = $2",  # noqa: S608
        property_id,
        company_id,
    )
    if row is None:
        raise not_found("custom property")
    return row


@router.get(
    "/custom-properties/{property_id}",
    response_model=CustomProperty,
    summary="Retrieve a custom property",
    responses=error_responses(401, 404),
)
async def get_property(property_id: uuid.UUID, company: CurrentCompany, res: Res) -> CustomProperty:
    return CustomProperty(**dict(await _property(res, company.id, property_id)))


@router.patch(
    "/custom-properties/{property_id}",
    response_model=CustomProperty,
    summary="Rename a custom property or change its options",
    description="The type and key cannot change: mappings and stored values depend on them.",
    responses=error_responses(401, 404, 422),
)
async def update_property(
    property_id: uuid.UUID, body: CustomPropertyUpdate, company: CurrentCompany, res: Res
) -> CustomProperty:
    current = await _property(res, company.id, property_id)
    name = body.name.strip() if body.name is not None else current["name"]
    options = current["options"]
    if body.options is not None:
        try:
            options = _check_options(PropertyType(current["type"]), body.options)
        except ValueError as exc:
            raise validation_error("options", str(exc)) from None
    row = await res.pool.fetchrow(
        f"UPDATE custom_properties SET name = $3, options = $4 WHERE id = $1 AND company_id = $2 "  # noqa: S608
        f"RETURNING {_PROP_COLS}",
        property_id,
        company.id,
        name,
        options,
    )
    if row is None:
        raise not_found("custom property")
    return CustomProperty(**dict(row))


@router.delete(
    "/custom-properties/{property_id}",
    status_code=204,
    summary="Delete a custom property (its values and mappings go with it)",
    responses=error_responses(401, 404),
)
async def delete_property(property_id: uuid.UUID, company: CurrentCompany, res: Res) -> Response:
    deleted = await res.pool.fetchval(
        "DELETE FROM custom_properties WHERE id = $1 AND company_id = $2 RETURNING id", property_id, company.id
    )
    if deleted is None:
        raise not_found("custom property")
    return Response(status_code=204)


# ---------------------------------------------------------------- contacts


class Contact(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "c0a1…",
                    "salutation": "Ms.",
                    "first_name": "Jane",
                    "last_name": "Doe",
                    "email": "jane@example.com",
                    "phone": "+1 480 555 0100",
                    "mailing_address": "42 Mesquite Ln, Mesa, AZ 85201",
                    "created_at": "2026-01-05T10:00:00Z",
                    "updated_at": "2026-01-05T10:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    salutation: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    mailing_address: str | None
    created_at: datetime
    updated_at: datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last page")


CONTACT_COLS = "id, salutation, first_name, last_name, email, phone, mailing_address, created_at, updated_at"
Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Offset = Annotated[int, Query(ge=0, description="items to skip")]


def page_of(items: list[T], limit: int, offset: int) -> tuple[list[T], int | None]:
    # One row more than asked tells whether another page exists without a count query.
    if len(items) > limit:
        return items[:limit], offset + limit
    return items, None


@router.get("/contacts", response_model=Page[Contact], summary="List contacts", responses=error_responses(401))
async def list_contacts(company: CurrentCompany, res: Res, limit: Limit = 50, offset: Offset = 0) -> Page[Contact]:
    rows = await res.pool.fetch(
        f"SELECT {CONTACT_COLS} FROM contacts WHERE company_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",  # noqa: S608
        company.id,
        limit + 1,
        offset,
    )
    items, next_offset = page_of([Contact(**dict(r)) for r in rows], limit, offset)
    return Page[Contact](items=items, next_offset=next_offset)


@router.get(
    "/contacts/{contact_id}",
    response_model=Contact,
    summary="Retrieve a contact",
    responses=error_responses(401, 404),
)
async def get_contact(contact_id: uuid.UUID, company: CurrentCompany, res: Res) -> Contact:
    row = await res.pool.fetchrow(
        f"SELECT {CONTACT_COLS} FROM contacts WHERE id = $1 AND company_id = $2",  # noqa: S608
        contact_id,
        company.id,
    )
    if row is None:
        raise not_found("contact")
    return Contact(**dict(row))


# ---------------------------------------------------------------- projects

PROJECT_COLS = (
    "id, contact_id, workflow_id, stage, title, source, street_address, city, state, postal_code, country, "
    "full_address, latitude, longitude, project_type, system_size_kw, contract_value, price_per_watt, "
    "annual_production_kwh, module_model, module_count, inverter_model, inverter_count, sales_rep_name, "
    "sales_rep_email, aurora_tenant_id, aurora_project_id, aurora_design_id, aurora_agreement_id, "
    "aurora_project_url, proposal_url, signed_at, aurora_status, created_at, updated_at"
)

_EX_PROJECT: dict[str, Any] = {
    "id": "7f3e…",
    "title": "Jane Doe - 42 Mesquite Ln",
    "source": "aurora",
    "workflow_id": "5d7c…",
    "stage": "New",
    "full_address": "42 Mesquite Ln, Mesa, AZ 85201, USA",
    "system_size_kw": 8.4,
    "contract_value": 28560.0,
    "aurora_project_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
}


class ProjectSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EX_PROJECT]})

    id: uuid.UUID
    contact_id: uuid.UUID | None
    workflow_id: uuid.UUID | None
    stage: str | None
    title: str
    source: str
    street_address: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    full_address: str | None
    latitude: float | None
    longitude: float | None
    project_type: str | None
    system_size_kw: Decimal | None
    contract_value: Decimal | None
    price_per_watt: Decimal | None
    annual_production_kwh: Decimal | None
    module_model: str | None
    module_count: int | None
    inverter_model: str | None
    inverter_count: int | None
    sales_rep_name: str | None
    sales_rep_email: str | None
    aurora_tenant_id: str | None
    aurora_project_id: str | None
    aurora_design_id: str | None
    aurora_agreement_id: str | None
    aurora_project_url: str | None
    proposal_url: str | None
    signed_at: datetime | None
    aurora_status: str | None
    created_at: datetime
    updated_at: datetime


class CustomValue(BaseModel):
    property_id: uuid.UUID
    key: str
    name: str
    type: PropertyType
    value: Any


class LineItem(BaseModel):
    id: uuid.UUID
    source: str
    kind: str
    component_type: str | None
    manufacturer: str | None
    name: str
    sku: str | None
    quantity: Decimal
    amount: Decimal | None


class Document(BaseModel):
    id: uuid.UUID
    kind: str
    file_name: str
    content_type: str
    size: int
    sha256: str
    source: str
    aurora_asset_id: str | None
    created_at: datetime
    download_url: str


class ProjectDetail(ProjectSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_EX_PROJECT,
                    "contact": {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com"},
                    "custom_values": [
                        {
                            "property_id": "9a1f…",
                            "key": "financing_type",
                            "name": "Financing",
                            "type": "single_select",
                            "value": "loans",
                        }
                    ],
                    "line_items": [
                        {
                            "kind": "component",
                            "component_type": "modules",
                            "manufacturer": "REC",
                            "name": "REC Alpha 420",
                            "quantity": 20,
                        }
                    ],
                    "documents": [
                        {
                            "kind": "signed_agreement",
                            "file_name": "agreement.pdf",
                            "download_url": "/v1/projects/7f3e…/documents/d1…/content",
                        }
                    ],
                }
            ]
        }
    )

    contact: Contact | None
    custom_values: list[CustomValue]
    line_items: list[LineItem]
    documents: list[Document]


@router.get(
    "/projects",
    response_model=Page[ProjectSummary],
    summary="List projects, newest first",
    responses=error_responses(401),
)
async def list_projects(
    company: CurrentCompany,
    res: Res,
    aurora_project_id: Annotated[
        str | None, Query(description="only the project linked to this Aurora project")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ProjectSummary]:
    rows = await res.pool.fetch(
        f"SELECT {PROJECT_COLS} FROM projects WHERE company_id = $1 "  # noqa: S608
        "AND ($2::text IS NULL OR aurora_project_id = $2) ORDER BY created_at DESC, id LIMIT $3 OFFSET $4",
        company.id,
        aurora_project_id,
        limit + 1,
        offset,
    )
    items, next_offset = page_of([ProjectSummary(**dict(r)) for r in rows], limit, offset)
    return Page[ProjectSummary](items=items, next_offset=next_offset)


@router.get(
    "/projects/{project_id}",
    response_model=ProjectDetail,
    summary="Retrieve a project with its contact, custom values, line items and documents",
    responses=error_responses(401, 404),
)
async def get_project(project_id: uuid.UUID, company: CurrentCompany, res: Res) -> ProjectDetail:
    async with res.pool.acquire() as conn:
        detail = await project_detail(conn, company.id, project_id)
    if detail is None:
        raise not_found("project")
    return detail


async def project_detail(conn: Any, company_id: uuid.UUID, project_id: uuid.UUID) -> ProjectDetail | None:
    """The project with everything hanging off it, or None when the company has no such project."""
    row = await conn.fetchrow(
        f"SELECT {PROJECT_COLS} FROM projects WHERE id = $1 AND company_id = $2",  # noqa: S608
        project_id,
        company_id,
    )
    if row is None:
        return None
    contact = None
    if row["contact_id"] is not None:
        c = await conn.fetchrow(f"SELECT {CONTACT_COLS} FROM contacts WHERE id = $1", row["contact_id"])  # noqa: S608
        contact = Contact(**dict(c)) if c is not None else None
    values = await conn.fetch(
        "SELECT v.property_id, p.key, p.name, p.type, v.value FROM custom_values v "
        "JOIN custom_properties p ON p.id = v.property_id WHERE v.project_id = $1 ORDER BY p.key",
        project_id,
    )
    items = await conn.fetch(
        "SELECT id, source, kind, component_type, manufacturer, name, sku, quantity, amount "
        "FROM line_items WHERE project_id = $1 ORDER BY kind, created_at, name",
        project_id,
    )
    docs = await conn.fetch(
        "SELECT id, kind, file_name, content_type, size, sha256, source, aurora_asset_id, created_at "
        "FROM documents WHERE project_id = $1 ORDER BY created_at, file_name",
        project_id,
    )
    return ProjectDetail(
        **dict(row),
        contact=contact,
        custom_values=[CustomValue(**dict(v)) for v in values],
        line_items=[LineItem(**dict(i)) for i in items],
        documents=[
            Document(**dict(d), download_url=f"/v1/projects/{project_id}/documents/{d['id']}/content") for d in docs
        ],
    )


@router.get(
    "/projects/{project_id}/documents/{document_id}/content",
    summary="Download a document",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}, "application/octet-stream": {}}, "description": "The file"},
        **error_responses(401, 404),
    },
)
async def download_document(
    project_id: uuid.UUID, document_id: uuid.UUID, company: CurrentCompany, res: Res
) -> Response:
    row = await res.pool.fetchrow(
        "SELECT d.file_name, d.content_type, b.content FROM documents d "
        "JOIN projects p ON p.id = d.project_id JOIN document_blobs b ON b.sha256 = d.sha256 "
        "WHERE d.id = $1 AND d.project_id = $2 AND p.company_id = $3",
        document_id,
        project_id,
        company.id,
    )
    if row is None:
        raise not_found("document")
    safe_name = re.sub(r"[^A-Za-z0-9._ -]", "_", row["file_name"])
    return Response(
        content=bytes(row["content"]),
        media_type=row["content_type"],
        headers={"Content-Disposition": f'attachment; filename="{safe_name}"'},
    )
