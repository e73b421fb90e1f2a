"""A company's request workflow: the stages a pre-sale request moves through.

Every company has a default one, New Request → Proposal → Closed Won / Closed Lost, made the first time it
is needed (by whichever call comes first; concurrent first calls make one). Stages carry an `outcome`
(open, won, lost) so code that must find "Closed Won" (a signed agreement converting a request) does not
depend on a name the company may change.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from admin.errors import error_responses
from admin.record_input import Conn
from admin.resources import Resources, resources
from admin.security import CurrentCompany
from pipeline_common.vocabulary import StageOutcome

router = APIRouter(prefix="/v1", tags=["crm"])
Res = Annotated[Resources, Depends(resources)]

DEFAULT_NAME: Final = "Sales"
DEFAULT_STAGES: Final[tuple[tuple[str, StageOutcome], ...]] = (
    ("New Request", StageOutcome.OPEN),
    ("Proposal", StageOutcome.OPEN),
    ("Closed Won", StageOutcome.WON),
    ("Closed Lost", StageOutcome.LOST),
)


class RequestStage(BaseModel):
    id: uuid.UUID
    name: str
    outcome: StageOutcome


class RequestWorkflow(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "e41b…",
                    "name": "Sales",
                    "is_default": True,
                    "stages": [
                        {"id": "a1…", "name": "New Request", "outcome": "open"},
                        {"id": "a2…", "name": "Proposal", "outcome": "open"},
                        {"id": "a3…", "name": "Closed Won", "outcome": "won"},
                        {"id": "a4…", "name": "Closed Lost", "outcome": "lost"},
                    ],
                    "created_at": "2026-01-05T10:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    name: str
    is_default: bool
    stages: list[RequestStage]
    created_at: datetime


async def default_workflow_id(conn: Conn, company_id: uuid.UUID) -> uuid.UUID:
    """The company's default request workflow, made now if it has none."""
    existing: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM request_workflows WHERE company_id = $1 AND is_default", company_id
    )
    if existing is not None:
        return existing
    async with conn.transaction():
        # A concurrent first call waits here on the unique index and then finds the other's workflow.
        made: uuid.UUID | None = await conn.fetchval(
            "INSERT INTO request_workflows (id, company_id, name, is_default) VALUES ($1, $2, $3, true) "
            "ON CONFLICT DO NOTHING RETURNING id",
            uuid.uuid4(),
            company_id,
            DEFAULT_NAME,
        )
        if made is not None:
            await conn.executemany(
                "INSERT INTO request_stages (id, workflow_id, name, position, outcome) VALUES ($1, $2, $3, $4, $5)",
                [(uuid.uuid4(), made, name, i, outcome) for i, (name, outcome) in enumerate(DEFAULT_STAGES)],
            )
            return made
    found: uuid.UUID = await conn.fetchval(
        "SELECT id FROM request_workflows WHERE company_id = $1 AND is_default", company_id
    )
    return found


async def first_stage_id(conn: Conn, workflow_id: uuid.UUID) -> uuid.UUID:
    stage_id: uuid.UUID = await conn.fetchval(
        "SELECT id FROM request_stages WHERE workflow_id = $1 ORDER BY position LIMIT 1", workflow_id
    )
    return stage_id


async def stage_in(conn: Conn, workflow_id: uuid.UUID, stage_id: uuid.UUID) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM request_stages WHERE id = $1 AND workflow_id = $2", stage_id, workflow_id
    )
    return bool(found)


@router.get(
    "/request-workflows",
    response_model=list[RequestWorkflow],
    summary="List request workflows and their stages",
    description="The stage ids a request's `stage_id` takes. The default workflow is made on first use.",
    responses=error_responses(401),
)
async def list_request_workflows(company: CurrentCompany, res: Res) -> list[RequestWorkflow]:
    async with res.pool.acquire() as conn:
        await default_workflow_id(conn, company.id)
        workflows = await conn.fetch(
            "SELECT id, name, is_default, created_at FROM request_workflows WHERE company_id = $1 "
            "ORDER BY is_default DESC, name",
            company.id,
        )
        stages = await conn.fetch(
            "SELECT s.id, s.workflow_id, s.name, s.outcome FROM request_stages s "
            "JOIN request_workflows w ON w.id = s.workflow_id WHERE w.company_id = $1 ORDER BY s.position",
            company.id,
        )
    return [
        RequestWorkflow(
            **dict(w),
            stages=[
                RequestStage(id=s["id"], name=s["name"], outcome=s["outcome"])
                for s in stages
                if s["workflow_id"] == w["id"]
            ],
        )
        for w in workflows
    ]
