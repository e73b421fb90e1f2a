"""Where an import lands and how it treats a matched project: the workflow and the matching strategy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from admin.errors import error_responses, not_found
from admin.integration_view import view
from admin.resources import Resources, resources
from admin.schemas import (
    IntegrationOut,
    StrategyUpdate,
    WorkflowUpdate,
)
from admin.security import CurrentCompany
from admin.store import (
    require_live,
)
from pipeline_common.integration_log import write_log
from pipeline_common.vocabulary import LogKind

router = APIRouter(prefix="/v1/integrations/aurora", tags=["aurora integration"])
Res = Annotated[Resources, Depends(resources)]


# ---------------------------------------------------------------- workflow, strategy


@router.put(
    "/workflow",
    response_model=IntegrationOut,
    summary="Choose the workflow imported projects get",
    description="`null` is allowed: projects are then created without a workflow.",
    responses=error_responses(401, 404, 422),
)
async def put_workflow(body: WorkflowUpdate, company: CurrentCompany, res: Res) -> IntegrationOut:
    row = await require_live(res.pool, company.id)
    if body.workflow_id is not None:
        owner = await res.pool.fetchval("SELECT company_id FROM workflows WHERE id = $1", body.workflow_id)
        if owner != company.id:
            raise not_found("workflow")
    async with res.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE integrations SET workflow_id = $2, updated_at = now() WHERE id = $1", row["id"], body.workflow_id
        )
        await write_log(
            conn,
            company_id=company.id,
            integration_id=row["id"],
            kind=LogKind.SETTINGS,
            message=f"workflow set to {body.workflow_id}" if body.workflow_id else "workflow cleared",
        )
    return await view(res, await require_live(res.pool, company.id))


@router.put(
    "/matching-strategy",
    response_model=IntegrationOut,
    summary="What happens when the project already exists",
    description="`enrich` (default): update mapped fields Aurora has values for, never blank one. `replace`: "
    "mapped fields, Aurora line items and documents become exactly Aurora's. `skip`: leave it untouched.",
    responses=error_responses(401, 404, 422),
)
async def put_strategy(body: StrategyUpdate, company: CurrentCompany, res: Res) -> IntegrationOut:
    row = await require_live(res.pool, company.id)
    async with res.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE integrations SET matching_strategy = $2, updated_at = now() WHERE id = $1", row["id"], body.strategy
        )
        await write_log(
            conn,
            company_id=company.id,
            integration_id=row["id"],
            kind=LogKind.SETTINGS,
            message=f"matching strategy set to {body.strategy}",
        )
    return await view(res, await require_live(res.pool, company.id))
