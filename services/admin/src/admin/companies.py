"""Companies (the CRM's accounts): created by the operator, who receives the company's API key once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from admin.errors import error_responses
from admin.resources import Resources, resources
from admin.security import CurrentCompany, create_company, require_operator

router = APIRouter(prefix="/v1", tags=["companies"])


class CompanyCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Sunny Installs LLC"}]})

    name: str = Field(min_length=1, max_length=200)


class CompanyCreated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b8e3c4e-1c1e-4a43-9b0a-7f0c2a1d9e11",
                    "name": "Sunny Installs LLC",
                    "api_key": "crm_Q2xh…(shown once)",
                    "created_at": "2026-01-05T10:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    name: str
    api_key: str = Field(description="Shown only in this response; store it now, it cannot be retrieved again.")
    created_at: datetime


class CompanyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "0b8e3c4e-1c1e-4a43-9b0a-7f0c2a1d9e11", "name": "Sunny Installs LLC"}]}
    )

    id: uuid.UUID
    name: str


@router.post(
    "/companies",
    status_code=201,
    response_model=CompanyCreated,
    dependencies=[Depends(require_operator)],
    summary="Create a company (operator only)",
    description="Authorised by `Authorization: Bearer <OPERATOR_TOKEN>`. Returns the company's API key once; "
    "only its SHA-256 is stored.",
    responses=error_responses(401, 422),
)
async def create(body: CompanyCreate, res: Annotated[Resources, Depends(resources)]) -> CompanyCreated:
    async with res.pool.acquire() as conn:
        company_id, key = await create_company(conn, body.name.strip())
        created_at = await conn.fetchval("SELECT created_at FROM companies WHERE id = $1", company_id)
    return CompanyCreated(id=company_id, name=body.name.strip(), api_key=key, created_at=created_at)


@router.get(
    "/company",
    response_model=CompanyOut,
    summary="The company the API key belongs to",
    responses=error_responses(401),
)
async def me(company: CurrentCompany) -> CompanyOut:
    return CompanyOut(id=company.id, name=company.name)
