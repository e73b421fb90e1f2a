"""`/_sim/*`: not Aurora. Drives the emulator from tests, demos and benchmarks."""

import random
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from aurora_sim import catalog
from aurora_sim.errors import AuroraError, JSONBytes, not_found, unprocessable
from aurora_sim.faults import FaultSpec, FileFault
from aurora_sim.generator import (
    DESIGN_FIELDS,
    Created,
    ProjectPlan,
    agreement_values,
    apply_agreement_status,
    bulk_plan,
    create_key,
    create_project,
    create_tenant,
)
from aurora_sim.model import PROJECT_FIELDS, Asset, StoredFile
from aurora_sim.project_changes import apply_changes, change_events
from aurora_sim.simulator import Simulator
from aurora_sim.store import owned

router = APIRouter(prefix="/_sim", tags=["simulator"])


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


class TenantIn(BaseModel):
    name: str = "Sunrise Solar Co"
    rate_limit_per_minute: int | None = Field(None, ge=1, description="Overrides AURORA_SIM_RATE_LIMIT_PER_MINUTE")


class KeyIn(BaseModel):
    kind: Literal["standard", "restricted"] = "restricted"
    operations: list[str] = Field(default_factory=list)


class RateLimitIn(BaseModel):
    rate_limit_per_minute: int | None = Field(None, ge=1, description="null restores the global default")


class ProjectIn(BaseModel):
    """Any 2024.05 project field may be given at the top level or under `project`; the rest are options."""

    model_config = ConfigDict(extra="allow")

    project: dict[str, Any] = Field(default_factory=dict)
    designs: int = Field(1, ge=0, le=10)
    sold_design: int | None = Field(None, ge=0, description="0-based index of the design marked sold")
    with_financing: bool = True
    with_consumption_profile: bool = True
    with_battery: bool | None = None
    agreement_status: str | None = "sent"
    signing_provider: str | None = Field(None, description="docusign or dropbox_sign; random when not given")
    design: dict[str, Any] = Field(
        default_factory=dict, description="fields set on every design: name, external_provider_id"
    )
    fire_events: bool = True
    seed: int | None = None


class BulkIn(BaseModel):
    count: int = Field(10, ge=1, le=20000)
    seed: int = 1
    fire_events: bool = False


class StatusIn(BaseModel):
    status: str


class MilestoneIn(BaseModel):
    milestone: str


class EventIn(BaseModel):
    event: str
    values: dict[str, str | None] = Field(default_factory=dict)


class AssetIn(BaseModel):
    asset_type: str = Field(description="e.g. `Racking Spec Sheet`; any of Aurora's asset types")
    same_bytes_as: str = Field(description="id of an asset of the same tenant whose file this one repeats")
    file_name: str | None = None
    fire_events: bool = True


class ClockIn(BaseModel):
    seconds: float


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    sim = _sim(request)
    return {"status": "ok", "environment": sim.settings.environment}


@router.post("/reset")
async def reset(request: Request) -> dict[str, Any]:
    await _sim(request).reset()
    return {"status": "reset"}


@router.get("/operations")
async def operations() -> dict[str, Any]:
    return {
        "operations": [
            {"name": name, "method": method, "path": path}
            for name, (method, path) in sorted(catalog.OPERATIONS.items())
        ]
    }


@router.post("/tenants", status_code=201)
async def post_tenant(request: Request, body: TenantIn | None = None) -> dict[str, Any]:
    sim = _sim(request)
    spec = body or TenantIn()
    tenant, key = create_tenant(sim.store, spec.name, sim.settings.env_segment, spec.rate_limit_per_minute)
    return {"tenant_id": tenant.id, "api_key": key.token, "user_ids": list(sim.store.tenant_users[tenant.id])}


@router.get("/tenants")
async def get_tenants(request: Request) -> dict[str, Any]:
    return {"tenants": [t.to_api() for t in _sim(request).store.tenants.values()]}


@router.put("/tenants/{tenant_id}/rate_limit")
async def put_rate_limit(request: Request, tenant_id: str, body: RateLimitIn) -> dict[str, Any]:
    tenant = _sim(request).store.tenant(tenant_id)
    tenant.rate_limit_per_minute = body.rate_limit_per_minute
    return {"tenant_id": tenant.id, "rate_limit_per_minute": tenant.rate_limit_per_minute}


@router.post("/tenants/{tenant_id}/keys", status_code=201)
async def post_key(request: Request, tenant_id: str, body: KeyIn) -> dict[str, Any]:
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    unknown = sorted(set(body.operations) - set(catalog.OPERATIONS))
    if unknown:
        raise unprocessable(f"Unknown operations: {', '.join(unknown)} (see GET /_sim/operations)")
    key = create_key(sim.store, tenant_id, body.kind, frozenset(body.operations), sim.settings.env_segment)
    return {"api_key": key.token, "kind": key.kind, "operations": sorted(key.operations)}


@router.delete("/keys/{api_key}", status_code=204)
async def delete_key(request: Request, api_key: str) -> Response:
    if _sim(request).store.keys.pop(api_key, None) is None:
        raise not_found()
    return Response(status_code=204)


def _fire_all(sim: Simulator, tenant_id: str, created: Created) -> None:
    for event, values in created.events:
        sim.dispatcher.fire(tenant_id, event, values)


def _created_api(created: Created) -> dict[str, Any]:
    return {
        "project_id": created.project.id,
        "design_ids": [d.id for d in created.designs],
        "agreement_id": created.agreement.id if created.agreement else None,
        "financing_id": created.financing_id,
    }


@router.post("/tenants/{tenant_id}/projects", status_code=201)
async def post_project(request: Request, tenant_id: str, body: ProjectIn | None = None) -> dict[str, Any]:
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    spec = body or ProjectIn()
    overrides = {k: v for k, v in (spec.model_extra or {}).items() if k in PROJECT_FIELDS}
    unknown = sorted(set(spec.model_extra or {}) - set(PROJECT_FIELDS))
    if unknown:
        raise unprocessable(f"Unknown project fields or options: {', '.join(unknown)}")
    overrides.update(spec.project)
    status = _agreement_status(spec.agreement_status) if spec.agreement_status is not None else None
    if spec.sold_design is not None and spec.sold_design >= spec.designs:
        raise unprocessable("sold_design must index one of the designs")
    unknown_design = sorted(set(spec.design) - set(DESIGN_FIELDS))
    if unknown_design:
        raise unprocessable(
            f"Unknown design fields: {', '.join(unknown_design)} (settable: {', '.join(DESIGN_FIELDS)})"
        )
    if spec.signing_provider is not None and spec.signing_provider not in catalog.SIGNING_PROVIDERS:
        raise unprocessable(f"signing_provider must be one of {', '.join(catalog.SIGNING_PROVIDERS)}")
    plan = ProjectPlan(
        overrides=overrides,
        designs=spec.designs,
        sold_design=spec.sold_design,
        with_financing=spec.with_financing,
        with_consumption_profile=spec.with_consumption_profile,
        with_battery=spec.with_battery,
        agreement_status=status,
        design_overrides=dict(spec.design),
        signing_provider=spec.signing_provider,
    )
    rng = random.Random(spec.seed) if spec.seed is not None else sim.store.rng
    created = create_project(sim.store, tenant_id, plan, rng)
    if spec.fire_events:
        _fire_all(sim, tenant_id, created)
    return _created_api(created)


@router.post("/tenants/{tenant_id}/projects/bulk", status_code=201)
async def post_projects_bulk(request: Request, tenant_id: str, body: BulkIn) -> dict[str, Any]:
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    rng = random.Random(body.seed)
    now = sim.clock.now()
    out = []
    for index in range(body.count):
        created = create_project(sim.store, tenant_id, bulk_plan(rng, now, index, body.count), rng)
        if body.fire_events:
            _fire_all(sim, tenant_id, created)
        item = _created_api(created)
        item["agreement_status"] = created.agreement.status if created.agreement else None
        item["project_status"] = created.project.data.get("status")
        item["milestones"] = [d.milestone[0] for d in created.designs if d.milestone]
        out.append(item)
    return {"projects": out}


def _agreement_status(raw: str) -> str:
    status = catalog.agreement_status_from_input(raw)
    if status not in catalog.AGREEMENT_STATUSES:
        raise unprocessable(f"status must be one of {', '.join(sorted(catalog.AGREEMENT_STATUSES))}")
    return status


@router.post("/tenants/{tenant_id}/agreements/{agreement_id}/status")
async def post_agreement_status(request: Request, tenant_id: str, agreement_id: str, body: StatusIn) -> dict[str, Any]:
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    agreement = owned(sim.store.agreements, agreement_id, tenant_id)
    status = _agreement_status(body.status)
    if agreement.status in catalog.TERMINAL_AGREEMENT_STATUSES:
        raise AuroraError(409, "Signed agreements cannot be changed")
    apply_agreement_status(agreement, status, sim.clock.now())
    deliveries = sim.dispatcher.fire(tenant_id, "agreement_status_changed", agreement_values(agreement))
    return {"agreement": agreement.to_api(), "delivery_ids": deliveries}


@router.post("/tenants/{tenant_id}/projects/{project_id}/status")
async def post_project_status(request: Request, tenant_id: str, project_id: str, body: StatusIn) -> dict[str, Any]:
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    project = owned(sim.store.projects, project_id, tenant_id)
    changed = apply_changes(project, {"status": body.status})
    deliveries: list[str] = []
    for event, values in change_events(project, changed, "app"):
        deliveries.extend(sim.dispatcher.fire(tenant_id, event, values))
    return {"project": project.to_api(), "delivery_ids": deliveries}


@router.post("/tenants/{tenant_id}/designs/{design_id}/milestone")
async def post_milestone(request: Request, tenant_id: str, design_id: str, body: MilestoneIn) -> dict[str, Any]:
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    design = owned(sim.store.designs, design_id, tenant_id)
    design.milestone = (body.milestone, sim.clock.now())
    values: dict[str, str | None] = {
        "PROJECT_ID": design.project_id,
        "DESIGN_ID": design.id,
        "MILESTONE": body.milestone,
    }
    deliveries = sim.dispatcher.fire(tenant_id, "milestone_created", values)
    return {"design": design.to_api(), "delivery_ids": deliveries}


@router.post("/tenants/{tenant_id}/events")
async def post_event(request: Request, tenant_id: str, body: EventIn) -> dict[str, Any]:
    """Fires any catalog event with the given placeholder values, for consumers' edge cases."""
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    if body.event not in catalog.EVENTS:
        raise unprocessable("event is not a supported webhook event")
    return {"delivery_ids": sim.dispatcher.fire(tenant_id, body.event, body.values)}


@router.get("/requests")
async def get_requests(
    request: Request,
    tenant_id: str | None = None,
    path: str | None = Query(None, description="Substring of the request path"),
    method: str | None = None,
    status: int | None = None,
    key_fingerprint: str | None = None,
    limit: int = Query(1000, ge=1, le=100_000),
) -> Response:
    out = []
    for entry in reversed(_sim(request).requests):
        if tenant_id and entry["tenant_id"] != tenant_id:
            continue
        if path and path not in entry["path"]:
            continue
        if method and entry["method"] != method.upper():
            continue
        if status is not None and entry["status"] != status:
            continue
        if key_fingerprint and entry["key_fingerprint"] != key_fingerprint:
            continue
        out.append(entry)
        if len(out) >= limit:
            break
    out.reverse()
    return JSONBytes({"requests": out})


@router.delete("/requests", status_code=204)
async def delete_requests(request: Request) -> Response:
    _sim(request).requests.clear()
    return Response(status_code=204)


@router.get("/webhook-deliveries")
async def get_deliveries(
    request: Request,
    tenant_id: str | None = None,
    webhook_id: str | None = None,
    event: str | None = None,
    limit: int = Query(1000, ge=1, le=100_000),
) -> Response:
    sim = _sim(request)
    deliveries = sim.dispatcher.list(tenant_id, webhook_id, event, limit)
    deliveries.reverse()
    return JSONBytes({"deliveries": deliveries})


@router.get("/webhooks")
async def get_webhooks(request: Request, tenant_id: str | None = None) -> dict[str, Any]:
    """Subscriptions with their internal state (failure streak, auto-disable reason) — not in Aurora's shape."""
    out = []
    for webhook in _sim(request).store.webhooks.values():
        if tenant_id and webhook.tenant_id != tenant_id:
            continue
        item = webhook.to_api()
        item.update(
            tenant_id=webhook.tenant_id,
            failed_attempts=webhook.failed_attempts,
            disabled_reason=webhook.disabled_reason,
        )
        out.append(item)
    return {"webhooks": out}


@router.post("/tenants/{tenant_id}/designs/{design_id}/assets", status_code=201)
async def post_asset(request: Request, tenant_id: str, design_id: str, body: AssetIn) -> dict[str, Any]:
    """Adds an asset to a design whose bytes repeat another asset's (one PDF uploaded under two types)."""
    sim = _sim(request)
    sim.store.tenant(tenant_id)
    design = owned(sim.store.designs, design_id, tenant_id)
    original = owned(sim.store.assets, body.same_bytes_as, tenant_id)
    source = sim.store.files[original.file_id]
    stored = StoredFile(
        id=sim.store.new_id(),
        kind=source.kind,
        file_name=body.file_name or f"{body.asset_type.lower().replace(' ', '_')}_{design.id[:8]}_{source.file_name}",
        content_type=source.content_type,
        context=dict(source.context),
    )
    sim.store.files[stored.id] = stored
    asset = Asset(
        id=sim.store.new_id(),
        tenant_id=tenant_id,
        project_id=design.project_id,
        design_id=design.id,
        asset_type=body.asset_type,
        file_name=stored.file_name,
        content_type=stored.content_type,
        created_at=sim.clock.now(),
        file_id=stored.id,
    )
    sim.store.assets[asset.id] = asset
    design.asset_ids.append(asset.id)
    sim.store.projects[design.project_id].asset_ids.append(asset.id)
    values: dict[str, str | None] = {"DESIGN_ID": design.id, "ASSET_ID": asset.id, "ASSET_TYPE": asset.asset_type}
    deliveries = sim.dispatcher.fire(tenant_id, "asset_created", values) if body.fire_events else []
    return {"asset_id": asset.id, "file_name": asset.file_name, "delivery_ids": deliveries}


@router.post("/file-faults", status_code=201)
async def post_file_fault(request: Request, fault: FileFault) -> dict[str, Any]:
    """Storage faults on one asset's pre-signed URLs; cleared with the other faults by `DELETE /_sim/faults`."""
    sim = _sim(request)
    sim.store.tenant(fault.tenant_id)
    asset = owned(sim.store.assets, fault.asset_id, fault.tenant_id)
    sim.faults.set_file_fault(asset.file_id, fault)
    return sim.faults.describe()


@router.post("/faults")
async def post_faults(request: Request, spec: FaultSpec) -> dict[str, Any]:
    sim = _sim(request)
    if spec.tenant_id is not None:
        sim.store.tenant(spec.tenant_id)
    sim.faults.set(spec)
    return sim.faults.describe()


@router.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    return _sim(request).faults.describe()


@router.delete("/faults", status_code=204)
async def delete_faults(request: Request, tenant_id: str | None = None) -> Response:
    _sim(request).faults.clear(tenant_id)
    return Response(status_code=204)


@router.post("/clock/advance")
async def advance_clock(request: Request, body: ClockIn) -> dict[str, Any]:
    """Moves the emulator's wall clock (timestamps, signed-URL expiry); rate-limit windows are unaffected."""
    sim = _sim(request)
    sim.clock.advance(body.seconds)
    return {"offset_seconds": sim.clock.offset_seconds}
