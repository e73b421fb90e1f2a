"""Contacts made and edited in the CRM: `POST /v1/contacts`, `PATCH /v1/contacts/{id}` (listing and reading
are in crm.py). An email is unique per company (case-insensitive), the key imports match contacts by."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from admin.crm import CONTACT_COLS, Contact
from admin.errors import ApiError, error_responses, field_errors, not_found
from admin.idempotency import IDEMPOTENCY_RESPONSES, IdempotencyKey, create_once
from admin.record_input import CONTACT_FIELDS, Conn, ContactFields, contact_errors
from admin.resources import Resources, resources
from admin.security import CurrentCompany
from pipeline_common.field_history import declare_change
from pipeline_common.vocabulary import ChangeSource

router = APIRouter(prefix="/v1", tags=["crm"])
Res = Annotated[Resources, Depends(resources)]

_CONTACT_EXAMPLE = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "phone": "+1 480 555 0100"}


def _duplicate_email(email: str | None) -> ApiError:
    return ApiError(409, "duplicate_email", f"the company already has a contact with the email {email}", field="email")


async def _insert(conn: Conn, company_id: uuid.UUID, body: ContactFields) -> Contact:
    errors = contact_errors(body.model_dump())
    if errors:
        raise field_errors(errors)
    try:
        row = await conn.fetchrow(
            f"INSERT INTO contacts (id, company_id, {', '.join(CONTACT_FIELDS)}) "  # noqa: S608 - fixed names
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CONTACT_COLS}",
            uuid.uuid4(),
            company_id,
            *(getattr(body, c) for c in CONTACT_FIELDS),
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate_email(body.email) from None
    assert row is not None
    return Contact(**dict(row))


@router.post(
    "/contacts",
    status_code=201,
    response_model=Contact,
    summary="Create a contact",
    description="A name, an email or a phone is required. Send an `Idempotency-Key` to retry safely.",
    responses={**error_responses(401, 409), **IDEMPOTENCY_RESPONSES},
    openapi_extra={"requestBody": {"content": {"application/json": {"example": _CONTACT_EXAMPLE}}}},
)
async def create_contact(
    body: ContactFields, company: CurrentCompany, res: Res, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    async def make(conn: Conn) -> Contact:
        return await _insert(conn, company.id, body)

    return await create_once(res, company.id, idempotency_key, "POST /v1/contacts", body, make)


@router.patch(
    "/contacts/{contact_id}",
    response_model=Contact,
    summary="Change a contact",
    description="Only the fields sent change; `null` clears one. The contact must keep a name, an email or a phone.",
    responses=error_responses(401, 404, 409, 422),
    openapi_extra={"requestBody": {"content": {"application/json": {"example": {"phone": "+1 480 555 0199"}}}}},
)
async def update_contact(contact_id: uuid.UUID, body: ContactFields, company: CurrentCompany, res: Res) -> Contact:
    changes = body.model_dump(include=body.model_fields_set)
    async with res.pool.acquire() as conn, conn.transaction():
        await declare_change(conn, ChangeSource.API)
        current = await conn.fetchrow(
            f"SELECT {CONTACT_COLS} FROM contacts WHERE id = $1 AND company_id = $2 FOR UPDATE",  # noqa: S608
            contact_id,
            company.id,
        )
        if current is None:
            raise not_found("contact")
        merged: dict[str, Any] = {**dict(current), **changes}
        errors = contact_errors(merged)
        if errors:
            raise field_errors(errors)
        try:
            row = await conn.fetchrow(
                "UPDATE contacts SET "  # noqa: S608 - fixed column names
                + ", ".join(f"{c} = ${i + 3}" for i, c in enumerate(CONTACT_FIELDS))
                + f", updated_at = now() WHERE id = $1 AND company_id = $2 RETURNING {CONTACT_COLS}",
                contact_id,
                company.id,
                *(merged[c] for c in CONTACT_FIELDS),
            )
        except asyncpg.UniqueViolationError:
            raise _duplicate_email(merged["email"]) from None
    assert row is not None
    return Contact(**dict(row))
