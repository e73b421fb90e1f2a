"""Re-sync: import one Aurora project now, through the normal fetch and import stages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from admin.aurora_failures import aurora_error
from admin.errors import ApiError, error_responses
from admin.resources import Resources, resources
from admin.schemas import (
    ResyncAccepted,
    ResyncRequest,
)
from admin.security import CurrentCompany
from admin.store import (
    credentials,
    require_live,
)
from pipeline_common import topics
from pipeline_common.aurora import (
    AuroraError,
    NotFound,
)
from pipeline_common.broker import publish_event
from pipeline_common.events import ImportReason, ImportRequested, TriggerRef
from pipeline_common.integration_log import write_log
from pipeline_common.vocabulary import LogKind

router = APIRouter(prefix="/v1/integrations/aurora", tags=["aurora integration"])
Res = Annotated[Resources, Depends(resources)]
SOURCE = "admin"


# ---------------------------------------------------------------- re-sync


async def publish_import(res: Resources, event: ImportRequested) -> None:
    await publish_event(
        res.broker,
        event,
        event_id=event.event_id,
        source=SOURCE,
        key=topics.message_key(event.integration_id, event.aurora_project_id),
        subject=event.aurora_project_id,
    )


@router.post(
    "/resync",
    status_code=202,
    response_model=ResyncAccepted,
    summary="Import one Aurora project now",
    description="Runs the project through the normal fetch and import stages, bypassing the triggers. Imports "
    "parked for this project (e.g. while Aurora rejected the token) are sent again too.",
    responses=error_responses(401, 404, 409, 502),
)
async def resync(body: ResyncRequest, company: CurrentCompany, res: Res) -> ResyncAccepted:
    row = await require_live(res.pool, company.id)
    if row["status"] != "active":
        raise ApiError(
            409, "needs_attention", f"the integration needs attention first: {row['status_reason']} (PUT .../token)"
        )
    project_id = body.aurora_project_id.strip()
    try:
        await res.aurora.retrieve_project(credentials(res, row), project_id)
    except NotFound:
        raise ApiError(
            404, "aurora_project_not_found", f"Aurora has no project {project_id!r} in this tenant"
        ) from None
    except AuroraError as exc:
        raise await aurora_error(res, row, exc) from None
    request_id = str(uuid.uuid4())
    event = ImportRequested(
        event_id=request_id,
        causation_id=request_id,
        company_id=str(company.id),
        integration_id=str(row["id"]),
        aurora_tenant_id=row["aurora_tenant_id"],
        aurora_project_id=project_id,
        reason=ImportReason.RESYNC,
        trigger=TriggerRef(kind="resync"),
        received_at=datetime.now(UTC),
    )
    # A parked import of the project is the fetcher's waiting job: the re-sync's event merges into it and
    # resumes it (fetcher/queue.py), so it is counted here, not sent again.
    parked = await res.pool.fetch(
        "SELECT event_id FROM parked_imports WHERE integration_id = $1 AND aurora_project_id = $2",
        row["id"],
        project_id,
    )
    await publish_import(res, event)
    await write_log(
        res.pool,
        company_id=company.id,
        integration_id=row["id"],
        kind=LogKind.RESYNC,
        event_id=event.event_id,
        aurora_project_id=project_id,
        action="import_requested",
        message="re-sync requested" + (f"; {len(parked)} parked import(s) resume with it" if parked else ""),
        details={"parked_event_ids": [p["event_id"] for p in parked]},
    )
    return ResyncAccepted(event_id=event.event_id, aurora_project_id=project_id, republished_parked=len(parked))
