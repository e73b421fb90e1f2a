"""`/_sim/*` calls that play people working on an EXISTING project in Aurora's web app.

A project a CRM created through the API starts bare; a designer adds designs, shares the proposal, a rep
sends the agreement, the homeowner signs (the existing agreement-status call). Someone may also edit the
customer, address or status. Each step fires the webhooks Aurora fires for it, so a test can take a
CRM-created project all the way to signed through public doors only.
"""

import random
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from aurora_sim import catalog
from aurora_sim.errors import unprocessable
from aurora_sim.generator import add_agreement, add_designs, agreement_values
from aurora_sim.project_changes import apply_changes, change_events
from aurora_sim.project_input import validate_project
from aurora_sim.simulator import Simulator
from aurora_sim.store import owned

router = APIRouter(prefix="/_sim", tags=["simulator"])

Event = tuple[str, dict[str, str | None]]


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def _fire(sim: Simulator, tenant_id: str, events: list[Event], enabled: bool) -> list[str]:
    ids: list[str] = []
    if enabled:
        for event, values in events:
            ids.extend(sim.dispatcher.fire(tenant_id, event, values))
    return ids


class DesignsIn(BaseModel):
    count: int = Field(1, ge=1, le=10)
    with_battery: bool | None = None
    with_financing: bool = Field(True, description="The first new design gets a selected loan (else cash)")
    fire_events: bool = True
    seed: int | None = None


class ProposalIn(BaseModel):
    fire_events: bool = True


class AgreementIn(BaseModel):
    design_id: str | None = Field(None, description="Default: the design marked sold, else the newest design")
    status: str = "sent"
    fire_events: bool = True
    seed: int | None = None


@router.patch("/tenants/{tenant_id}/projects/{project_id}")
async def patch_project(request: Request, tenant_id: str, project_id: str) -> dict[str, Any]:
    """Edits project fields as a person in the app would; the body uses Aurora's Update Project fields
    (either address shape). Fires `project_changed` (SOURCE=app) and, for a new status,
    `project_status_changed`."""
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    project = owned(sim.store.projects, project_id, tenant_id)
    try:
        body = await request.json()
    except ValueError:
        raise unprocessable("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise unprocessable("body must be a JSON object")
    fields = body.get("project", body)
    if not isinstance(fields, dict):
        raise unprocessable("project must be an object")
    changes = validate_project(sim.store, tenant_id, fields, creating=False)
    changed = apply_changes(project, changes)
    deliveries = _fire(sim, tenant_id, change_events(project, changed, "app"), True)
    return {"project": project.to_api(), "changed": changed, "delivery_ids": deliveries}


@router.post("/tenants/{tenant_id}/projects/{project_id}/designs", status_code=201)
async def post_designs(request: Request, tenant_id: str, project_id: str, body: DesignsIn) -> dict[str, Any]:
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    project = owned(sim.store.projects, project_id, tenant_id)
    rng = random.Random(body.seed) if body.seed is not None else sim.store.rng
    added = add_designs(sim.store, rng, project, body.count, body.with_battery, body.with_financing)
    deliveries = _fire(sim, tenant_id, added.events, body.fire_events)
    return {
        "design_ids": [d.id for d in added.designs],
        "financing_id": added.financing_id,
        "delivery_ids": deliveries,
    }


@router.post("/tenants/{tenant_id}/designs/{design_id}/proposal")
async def post_proposal(request: Request, tenant_id: str, design_id: str, body: ProposalIn) -> dict[str, Any]:
    """Shares the design's web proposal with the homeowner: fires `web_proposal_url_created` (SOURCE=app).

    Every design already has its default proposal (as generated ones do); sharing is the step a CRM's
    pre-sale flow listens for.
    """
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    design = owned(sim.store.designs, design_id, tenant_id)
    url = f"{sim.base_url(request)}/web_proposals/{design.web_proposal_token}"
    events: list[Event] = [("web_proposal_url_created", {"DESIGN_ID": design.id, "SOURCE": "app"})]
    deliveries = _fire(sim, tenant_id, events, body.fire_events)
    return {
        "proposal_id": design.proposal_id,
        "web_proposal": {"url": url, "url_expired": False},
        "delivery_ids": deliveries,
    }


@router.post("/tenants/{tenant_id}/projects/{project_id}/agreements", status_code=201)
async def post_agreement(request: Request, tenant_id: str, project_id: str, body: AgreementIn) -> dict[str, Any]:
    """Sends an agreement for one of the project's designs; fires `agreement_status_changed`. Move it on
    with `POST /_sim/tenants/{tid}/agreements/{aid}/status`."""
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    project = owned(sim.store.projects, project_id, tenant_id)
    if not project.design_ids:
        raise unprocessable("the project has no design yet: add one with POST …/projects/{project_id}/designs")
    if body.design_id is not None:
        design = owned(sim.store.designs, body.design_id, tenant_id)
        if design.project_id != project.id:
            raise unprocessable("design_id is not a design of this project")
    else:
        designs = [sim.store.designs[d] for d in project.design_ids]
        design = next((d for d in designs if d.milestone and d.milestone[0] == "sold"), designs[-1])
    status = catalog.agreement_status_from_input(body.status)
    if status not in catalog.AGREEMENT_STATUSES:
        raise unprocessable(f"status must be one of {', '.join(sorted(catalog.AGREEMENT_STATUSES))}")
    rng = random.Random(body.seed) if body.seed is not None else sim.store.rng
    agreement = add_agreement(sim.store, rng, project, design, status)
    events: list[Event] = [("agreement_status_changed", agreement_values(agreement))]
    deliveries = _fire(sim, tenant_id, events, body.fire_events)
    return {"agreement_id": agreement.id, "agreement": agreement.to_api(), "delivery_ids": deliveries}
