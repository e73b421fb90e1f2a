"""Aurora's public paths, shaped exactly as the README table fixes them."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from aurora_sim import catalog
from aurora_sim.auth import Context, authorize
from aurora_sim.catalog import operation
from aurora_sim.clock import fmt
from aurora_sim.errors import AuroraError, not_found, unprocessable
from aurora_sim.model import PROJECT_FIELDS, DownloadJob, Project, ProposalPdfJob, StoredFile, Webhook
from aurora_sim.project_changes import apply_changes, change_events
from aurora_sim.project_input import validate_project
from aurora_sim.simulator import Simulator
from aurora_sim.store import owned

router = APIRouter(tags=["aurora"])
files_router = APIRouter(tags=["aurora files"])

T = TypeVar("T")
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 250
CONSUMPTION_PROFILE_MISSING = "Consumption profile is not filled out"


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise unprocessable(f"{name} must be an integer") from None


def page_window(request: Request) -> tuple[int, int]:
    page = _int_param(request, "page", 1)
    per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE)
    if page < 1:
        raise unprocessable("page must be greater than or equal to 1")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise unprocessable(f"per_page must be between 1 and {MAX_PER_PAGE}")
    return page, per_page


def paginate(request: Request, items: Sequence[T]) -> Sequence[T]:
    page, per_page = page_window(request)
    start = (page - 1) * per_page
    return items[start : start + per_page]


async def _json_object(request: Request, wrapper: str) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise AuroraError(400, "Request body is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get(wrapper), dict):
        raise unprocessable(f"{wrapper} is required and must be an object")
    inner: dict[str, Any] = body[wrapper]
    return inner


# --- tenant -------------------------------------------------------------------------------------------


@router.get("/tenants/{tenant_id}", summary="Retrieve Tenant")
async def retrieve_tenant(
    ctx: Context = Depends(authorize(operation("retrieve_tenant", "GET", "/tenants/{tenant_id}"))),
) -> Response:
    return ctx.reply({"tenant": ctx.tenant.to_api()})


# --- projects -----------------------------------------------------------------------------------------


@router.get("/tenants/{tenant_id}/projects", summary="List Projects")
async def list_projects(
    ctx: Context = Depends(authorize(operation("list_projects", "GET", "/tenants/{tenant_id}/projects"))),
) -> Response:
    page, per_page = page_window(ctx.request)
    ordered = ctx.store.tenant_projects.get(ctx.tenant.id, [])
    end = len(ordered) - (page - 1) * per_page
    start = max(0, end - per_page)
    chunk = ordered[start:end] if end > 0 else []
    return ctx.reply({"projects": [p.to_api() for p in reversed(chunk)]})


@router.post("/tenants/{tenant_id}/projects", summary="Create Project", status_code=200)
async def create_project(
    ctx: Context = Depends(authorize(operation("create_project", "POST", "/tenants/{tenant_id}/projects"))),
) -> Response:
    payload = await _json_object(ctx.request, "project")
    data = validate_project(ctx.store, ctx.tenant.id, payload, creating=True)
    users = ctx.store.tenant_users.get(ctx.tenant.id, [])
    defaults: dict[str, Any] = {name: None for name in PROJECT_FIELDS}
    defaults.update(
        status=catalog.PROJECT_STATUSES[0],
        tags=[],
        project_type="residential",
        preferred_solar_modules=[],
        owner_id=users[0] if users else None,
    )
    defaults.update(data)
    if defaults.get("mailing_address") is None:
        defaults["mailing_address"] = defaults["location"]["property_address"]
    store = ctx.store
    project = Project(
        id=store.new_id(), tenant_id=ctx.tenant.id, seq=store.next_seq(), created_at=store.clock.now(), data=defaults
    )
    store.add_project(project)
    ctx.fire("project_created", {"PROJECT_ID": project.id, "SOURCE": "api"})
    return ctx.reply({"project": project.to_api()})


@router.get("/tenants/{tenant_id}/projects/{project_id}", summary="Retrieve Project")
async def retrieve_project(
    project_id: str,
    ctx: Context = Depends(
        authorize(operation("retrieve_project", "GET", "/tenants/{tenant_id}/projects/{project_id}"))
    ),
) -> Response:
    return ctx.reply({"project": owned(ctx.store.projects, project_id, ctx.tenant.id).to_api()})


@router.put("/tenants/{tenant_id}/projects/{project_id}", summary="Update Project")
async def update_project(
    project_id: str,
    ctx: Context = Depends(authorize(operation("update_project", "PUT", "/tenants/{tenant_id}/projects/{project_id}"))),
) -> Response:
    project = owned(ctx.store.projects, project_id, ctx.tenant.id)
    payload = await _json_object(ctx.request, "project")
    data = validate_project(ctx.store, ctx.tenant.id, payload, creating=False)
    for event, values in change_events(project, apply_changes(project, data), "api"):
        ctx.fire(event, values)
    return ctx.reply({"project": project.to_api()})


# --- designs ------------------------------------------------------------------------------------------


@router.get("/tenants/{tenant_id}/projects/{project_id}/designs", summary="List Designs")
async def list_designs(
    project_id: str,
    ctx: Context = Depends(
        authorize(operation("list_designs", "GET", "/tenants/{tenant_id}/projects/{project_id}/designs"))
    ),
) -> Response:
    project = owned(ctx.store.projects, project_id, ctx.tenant.id)
    ids = paginate(ctx.request, project.design_ids)
    return ctx.reply({"designs": [ctx.store.designs[d].to_api() for d in ids]})


@router.get("/tenants/{tenant_id}/designs/{design_id}", summary="Retrieve Design")
async def retrieve_design(
    design_id: str,
    ctx: Context = Depends(authorize(operation("retrieve_design", "GET", "/tenants/{tenant_id}/designs/{design_id}"))),
) -> Response:
    return ctx.reply({"design": owned(ctx.store.designs, design_id, ctx.tenant.id).to_api()})


@router.get("/tenants/{tenant_id}/designs/{design_id}/summary", summary="Retrieve Design Summary")
async def retrieve_design_summary(
    design_id: str,
    ctx: Context = Depends(
        authorize(operation("retrieve_design_summary", "GET", "/tenants/{tenant_id}/designs/{design_id}/summary"))
    ),
) -> Response:
    return ctx.reply({"design": owned(ctx.store.designs, design_id, ctx.tenant.id).summary_api()})


@router.get("/tenants/{tenant_id}/designs/{design_id}/pricing", summary="Retrieve Design Pricing")
async def retrieve_design_pricing(
    design_id: str,
    ctx: Context = Depends(
        authorize(operation("retrieve_design_pricing", "GET", "/tenants/{tenant_id}/designs/{design_id}/pricing"))
    ),
) -> Response:
    return ctx.reply({"pricing": owned(ctx.store.designs, design_id, ctx.tenant.id).pricing_api()})


# --- financings ---------------------------------------------------------------------------------------


@router.get("/tenants/{tenant_id}/designs/{design_id}/financings", summary="List Financings")
async def list_financings(
    design_id: str,
    ctx: Context = Depends(
        authorize(operation("list_financings", "GET", "/tenants/{tenant_id}/designs/{design_id}/financings"))
    ),
) -> Response:
    design = owned(ctx.store.designs, design_id, ctx.tenant.id)
    ids = paginate(ctx.request, design.financing_ids)
    return ctx.reply({"financings": [ctx.store.financings[f].to_api() for f in ids]})


@router.get("/tenants/{tenant_id}/designs/{design_id}/financings/{financing_id}", summary="Retrieve Financing")
async def retrieve_financing(
    design_id: str,
    financing_id: str,
    ctx: Context = Depends(
        authorize(
            operation("retrieve_financing", "GET", "/tenants/{tenant_id}/designs/{design_id}/financings/{financing_id}")
        )
    ),
) -> Response:
    owned(ctx.store.designs, design_id, ctx.tenant.id)
    financing = owned(ctx.store.financings, financing_id, ctx.tenant.id)
    if financing.design_id != design_id:
        raise not_found()
    return ctx.reply({"financing": financing.to_api()})


# --- agreements ---------------------------------------------------------------------------------------


@router.get("/tenants/{tenant_id}/agreements/{agreement_id}", summary="Retrieve Agreement")
async def retrieve_agreement(
    agreement_id: str,
    ctx: Context = Depends(
        authorize(operation("retrieve_agreement", "GET", "/tenants/{tenant_id}/agreements/{agreement_id}"))
    ),
) -> Response:
    return ctx.reply({"agreement": owned(ctx.store.agreements, agreement_id, ctx.tenant.id).to_api()})


@router.post(
    "/tenants/{tenant_id}/agreements/{agreement_id}/download_url/run",
    summary="Run Agreement Download URL Job",
    status_code=202,
)
async def run_agreement_download_url(
    agreement_id: str,
    ctx: Context = Depends(
        authorize(
            operation(
                "run_agreement_download_url", "POST", "/tenants/{tenant_id}/agreements/{agreement_id}/download_url/run"
            )
        )
    ),
) -> Response:
    agreement = owned(ctx.store.agreements, agreement_id, ctx.tenant.id)
    if agreement.status != "signed":
        raise unprocessable("Agreement must be signed to download its document")
    job = DownloadJob(
        job_id=ctx.store.new_id(),
        tenant_id=ctx.tenant.id,
        agreement_id=agreement.id,
        project_id=agreement.project_id,
        design_id=agreement.design_id,
        requested_at=ctx.store.clock.now(),
    )
    ctx.store.jobs[job.job_id] = job
    return ctx.reply({"agreement_download_url_job": job.to_api("in-progress", None)}, status=202)


@router.get(
    "/tenants/{tenant_id}/agreements/{agreement_id}/download_url/status", summary="Retrieve Agreement Download URL Job"
)
async def agreement_download_url_status(
    agreement_id: str,
    job_id: str | None = None,
    ctx: Context = Depends(
        authorize(
            operation(
                "retrieve_agreement_download_url_status",
                "GET",
                "/tenants/{tenant_id}/agreements/{agreement_id}/download_url/status",
            )
        )
    ),
) -> Response:
    agreement = owned(ctx.store.agreements, agreement_id, ctx.tenant.id)
    if not job_id:
        raise unprocessable("job_id is required")
    job = ctx.store.jobs.get(job_id)
    if job is None or job.tenant_id != ctx.tenant.id or job.agreement_id != agreement.id:
        raise not_found()
    job.status_reads += 1
    sim: Simulator = ctx.sim
    if job.completed_at is None and job.status_reads <= sim.settings.download_job_pending_reads:
        return ctx.reply({"agreement_download_url_job": job.to_api("in-progress", None)})
    if job.completed_at is None or job.file_id is None:
        job.completed_at = ctx.store.clock.now()
        project = ctx.store.projects[agreement.project_id]
        stored = StoredFile(
            id=ctx.store.new_id(),
            kind="agreement_pdf",
            file_name=f"agreement_{agreement.id[:8]}_signed.pdf",
            content_type="application/pdf",
            context={
                "title": agreement.agreement_template_name,
                "agreement_id": agreement.id,
                "customer": f"{project.data.get('customer_first_name') or ''} "
                f"{project.data.get('customer_last_name') or ''}".strip(),
                "address": (project.data.get("location") or {}).get("property_address"),
            },
        )
        ctx.store.files[stored.id] = stored
        job.file_id = stored.id
    expires = int((job.completed_at + timedelta(seconds=sim.settings.file_url_ttl_seconds)).timestamp())
    url = sim.signed_file_url(ctx.request, ctx.store.files[job.file_id], expires)
    return ctx.reply({"agreement_download_url_job": job.to_api("succeeded", url)})


# --- proposals ----------------------------------------------------------------------------------------


@router.get("/tenants/{tenant_id}/designs/{design_id}/proposals/default", summary="Retrieve Default Proposal")
async def retrieve_default_proposal(
    design_id: str,
    ctx: Context = Depends(
        authorize(
            operation("retrieve_default_proposal", "GET", "/tenants/{tenant_id}/designs/{design_id}/proposals/default")
        )
    ),
) -> Response:
    design = owned(ctx.store.designs, design_id, ctx.tenant.id)
    host = "v2-sandbox.aurorasolar.com" if ctx.sim.settings.environment == "sandbox" else "v2.aurorasolar.com"
    created = design.created_at + timedelta(minutes=30)
    return ctx.reply(
        {
            "proposal": {
                "id": design.proposal_id,
                "created_at": fmt(created),
                "updated_at": fmt(created + timedelta(minutes=12)),
                "proposal_template_id": design.proposal_template_id,
                "proposal_link": f"https://{host}/projects/{design.project_id}/designs/{design.id}/sales_mode/proposal",
            }
        }
    )


@router.get("/tenants/{tenant_id}/designs/{design_id}/web_proposal", summary="Retrieve Web Proposal")
async def retrieve_web_proposal(
    design_id: str,
    ctx: Context = Depends(
        authorize(operation("retrieve_web_proposal", "GET", "/tenants/{tenant_id}/designs/{design_id}/web_proposal"))
    ),
) -> Response:
    design = owned(ctx.store.designs, design_id, ctx.tenant.id)
    url = f"{ctx.sim.base_url(ctx.request)}/web_proposals/{design.web_proposal_token}"
    return ctx.reply({"web_proposal": {"url": url, "url_expired": False}})


# Modeled: Aurora names "Run Proposal PDF Generation" and `proposal_pdf_generation_job_completed` but not the
# path or shape; this follows its run/status job pattern (README, "proposal PDF").
_PDF_RUN = "/tenants/{tenant_id}/designs/{design_id}/proposal_pdf_generation/run"
_PDF_STATUS = "/tenants/{tenant_id}/designs/{design_id}/proposal_pdf_generation/status"
_PDF_EVENT = "proposal_pdf_generation_job_completed"


@router.post(_PDF_RUN, summary="Run Proposal PDF Generation (modeled)", status_code=202)
async def run_proposal_pdf_generation(
    design_id: str,
    ctx: Context = Depends(authorize(operation("run_proposal_pdf_generation", "POST", _PDF_RUN))),
) -> Response:
    design = owned(ctx.store.designs, design_id, ctx.tenant.id)
    spec = ctx.sim.faults.for_tenant(ctx.tenant.id)
    job = ProposalPdfJob(
        job_id=ctx.store.new_id(),
        tenant_id=ctx.tenant.id,
        design_id=design.id,
        project_id=design.project_id,
        requested_at=ctx.store.clock.now(),
        outcome=spec.proposal_pdf_jobs if spec is not None else "succeed",
    )
    ctx.store.proposal_pdf_jobs[job.job_id] = job
    return ctx.reply({"proposal_pdf_generation_job": job.to_api("in-progress", None)}, status=202)


@router.get(_PDF_STATUS, summary="Retrieve Proposal PDF Generation Job (modeled)")
async def proposal_pdf_generation_status(
    design_id: str,
    job_id: str | None = None,
    ctx: Context = Depends(authorize(operation("retrieve_proposal_pdf_generation_status", "GET", _PDF_STATUS))),
) -> Response:
    design = owned(ctx.store.designs, design_id, ctx.tenant.id)
    if not job_id:
        raise unprocessable("job_id is required")
    job = ctx.store.proposal_pdf_jobs.get(job_id)
    if job is None or job.tenant_id != ctx.tenant.id or job.design_id != design.id:
        raise not_found()
    job.status_reads += 1
    sim: Simulator = ctx.sim
    key = "proposal_pdf_generation_job"
    if job.outcome == "stall" or (
        job.completed_at is None and job.status_reads <= sim.settings.download_job_pending_reads
    ):
        return ctx.reply({key: job.to_api("in-progress", None)})
    first_completion = job.completed_at is None
    completed_at = job.completed_at = job.completed_at or ctx.store.clock.now()
    if job.outcome == "fail":
        if first_completion:
            ctx.fire(_PDF_EVENT, {"DESIGN_ID": design.id, "JOB_ID": job.job_id, "STATUS": "failed"})
        return ctx.reply({key: job.to_api("failed", None, "Proposal PDF generation failed")})
    if job.file_id is None:
        project = ctx.store.projects[design.project_id]
        stored = StoredFile(
            id=ctx.store.new_id(),
            kind="proposal_pdf",
            file_name=f"proposal_{design.id[:8]}.pdf",
            content_type="application/pdf",
            context={
                "title": "Solar Proposal",
                "project_name": project.data.get("name"),
                "address": (project.data.get("location") or {}).get("property_address"),
                "system_size_stc": design.system_size_stc,
                "system_price": (design.pricing or {}).get("system_price"),
            },
        )
        ctx.store.files[stored.id] = stored
        job.file_id = stored.id
        ctx.fire(_PDF_EVENT, {"DESIGN_ID": design.id, "JOB_ID": job.job_id, "STATUS": "succeeded"})
    expires = int((completed_at + timedelta(seconds=sim.settings.file_url_ttl_seconds)).timestamp())
    url = sim.signed_file_url(ctx.request, ctx.store.files[job.file_id], expires)
    return ctx.reply({key: job.to_api("succeeded", url)})


# --- assets -------------------------------------------------------------------------------------------


def _asset_list(ctx: Context, asset_ids: Sequence[str]) -> Response:
    ids = paginate(ctx.request, asset_ids)
    out = []
    for asset_id in ids:
        asset = ctx.store.assets[asset_id]
        out.append(asset.to_api(ctx.sim.asset_url(ctx.request, asset)))
    return ctx.reply({"assets": out})


@router.get("/tenants/{tenant_id}/designs/{design_id}/assets", summary="List Design Assets")
async def list_design_assets(
    design_id: str,
    ctx: Context = Depends(
        authorize(operation("list_design_assets", "GET", "/tenants/{tenant_id}/designs/{design_id}/assets"))
    ),
) -> Response:
    return _asset_list(ctx, owned(ctx.store.designs, design_id, ctx.tenant.id).asset_ids)


@router.get("/tenants/{tenant_id}/projects/{project_id}/assets", summary="List Project Assets")
async def list_project_assets(
    project_id: str,
    ctx: Context = Depends(
        authorize(operation("list_project_assets", "GET", "/tenants/{tenant_id}/projects/{project_id}/assets"))
    ),
) -> Response:
    return _asset_list(ctx, owned(ctx.store.projects, project_id, ctx.tenant.id).asset_ids)


@router.get("/tenants/{tenant_id}/assets/{asset_id}", summary="Retrieve Asset")
async def retrieve_asset(
    asset_id: str,
    ctx: Context = Depends(authorize(operation("retrieve_asset", "GET", "/tenants/{tenant_id}/assets/{asset_id}"))),
) -> Response:
    asset = owned(ctx.store.assets, asset_id, ctx.tenant.id)
    return ctx.reply({"asset": asset.to_api(ctx.sim.asset_url(ctx.request, asset))})


# --- users --------------------------------------------------------------------------------------------


@router.get("/tenants/{tenant_id}/users", summary="List Users")
async def list_users(
    ctx: Context = Depends(authorize(operation("list_users", "GET", "/tenants/{tenant_id}/users"))),
) -> Response:
    ids = paginate(ctx.request, ctx.store.tenant_users.get(ctx.tenant.id, []))
    return ctx.reply({"users": [ctx.store.users[u].to_api() for u in ids]})


@router.get("/tenants/{tenant_id}/users/{user_id}", summary="Retrieve User")
async def retrieve_user(
    user_id: str,
    ctx: Context = Depends(authorize(operation("retrieve_user", "GET", "/tenants/{tenant_id}/users/{user_id}"))),
) -> Response:
    return ctx.reply({"user": owned(ctx.store.users, user_id, ctx.tenant.id).to_api()})


# --- consumption profile ------------------------------------------------------------------------------


@router.get("/tenants/{tenant_id}/projects/{project_id}/consumption_profile", summary="Retrieve Consumption Profile")
async def retrieve_consumption_profile(
    project_id: str,
    ctx: Context = Depends(
        authorize(
            operation(
                "retrieve_consumption_profile", "GET", "/tenants/{tenant_id}/projects/{project_id}/consumption_profile"
            )
        )
    ),
) -> Response:
    project = owned(ctx.store.projects, project_id, ctx.tenant.id)
    if project.consumption_profile is None:
        raise AuroraError(404, CONSUMPTION_PROFILE_MISSING)
    return ctx.reply({"consumption_profile": _profile_api(project.consumption_profile)})


_INTERVAL_LENGTHS = frozenset({8760, 8784, 17520, 17568, 35040, 35136})


@router.put("/tenants/{tenant_id}/projects/{project_id}/consumption_profile", summary="Update Consumption Profile")
async def update_consumption_profile(
    project_id: str,
    ctx: Context = Depends(
        authorize(
            operation(
                "update_consumption_profile", "PUT", "/tenants/{tenant_id}/projects/{project_id}/consumption_profile"
            )
        )
    ),
) -> Response:
    project = owned(ctx.store.projects, project_id, ctx.tenant.id)
    payload = await _json_object(ctx.request, "consumption_profile")
    given = [k for k in ("monthly_energy", "monthly_bill", "interval_data") if k in payload]
    if len(given) != 1:
        raise unprocessable("Provide exactly one of monthly_energy, monthly_bill, interval_data")
    values = payload[given[0]]
    if not isinstance(values, list) or not all(
        (isinstance(v, int | float) and not isinstance(v, bool)) or v == "null" for v in values
    ):
        raise unprocessable(f"{given[0]} must be an array of numbers")
    if given[0] != "interval_data" and len(values) != 12:
        raise unprocessable(f"{given[0]} must have exactly 12 values")
    if given[0] == "interval_data" and len(values) not in _INTERVAL_LENGTHS:
        raise unprocessable("interval_data has an unsupported number of values")
    numbers = [float(v) for v in values if v != "null"]
    if given[0] == "monthly_energy":
        monthly = [round(float(v)) if v != "null" else None for v in values]
    elif given[0] == "monthly_bill":
        monthly = [round(float(v) / 0.21) if v != "null" else None for v in values]  # ~$0.21/kWh blended
    else:
        per_month = sum(numbers) / 12
        monthly = [round(per_month)] * 12
    city = project.data.get("location") or {}
    previous = project.consumption_profile or {}
    project.consumption_profile = {
        "utility": previous.get("utility")
        or f"{(city.get('property_address_components') or {}).get('region', '')} Utility",
        "utility_rate": previous.get("utility_rate") or "Residential",
        "monthly_energy": monthly,
    }
    ctx.fire("consumption_profile_changed", {"PROJECT_ID": project.id})
    return ctx.reply({"consumption_profile": _profile_api(project.consumption_profile)})


def _profile_api(profile: dict[str, Any]) -> dict[str, Any]:
    return {
        "utility": profile["utility"],
        "utility_rate": profile["utility_rate"],
        "monthly_energy": list(profile["monthly_energy"]),
    }


# --- webhooks -----------------------------------------------------------------------------------------


def _webhook_fields(payload: dict[str, Any], creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "event" in payload or creating:
        event = payload.get("event")
        if not isinstance(event, str) or event not in catalog.EVENTS:
            raise unprocessable("event is not a supported webhook event")
        out["event"] = event
    if "url_template" in payload or creating:
        url = payload.get("url_template")
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise unprocessable("url_template must be an http(s) URL")
        out["url_template"] = url
    for name in ("description", "header_auth_key", "header_auth_value"):
        if name in payload:
            value = payload[name]
            if value is not None and not isinstance(value, str):
                raise unprocessable(f"{name} must be a string")
            out[name] = value
    if "enabled" in payload:
        if not isinstance(payload["enabled"], bool):
            raise unprocessable("enabled must be a boolean")
        out["enabled"] = payload["enabled"]
    return out


def _check_event_capacity(ctx: Context, event: str, exclude: str | None) -> None:
    count = sum(
        1
        for wid in ctx.store.tenant_webhooks.get(ctx.tenant.id, [])
        if wid != exclude and ctx.store.webhooks[wid].event == event
    )
    if count >= catalog.MAX_WEBHOOKS_PER_EVENT:
        raise unprocessable(f"A tenant can have at most {catalog.MAX_WEBHOOKS_PER_EVENT} webhooks per event")


@router.get("/tenants/{tenant_id}/webhooks", summary="List Webhooks")
async def list_webhooks(
    ctx: Context = Depends(authorize(operation("list_webhooks", "GET", "/tenants/{tenant_id}/webhooks"))),
) -> Response:
    ids = paginate(ctx.request, ctx.store.tenant_webhooks.get(ctx.tenant.id, []))
    return ctx.reply({"webhooks": [ctx.store.webhooks[w].to_api() for w in ids]})


@router.post("/tenants/{tenant_id}/webhooks", summary="Create Webhook", status_code=201)
async def create_webhook(
    ctx: Context = Depends(authorize(operation("create_webhook", "POST", "/tenants/{tenant_id}/webhooks"))),
) -> Response:
    fields = _webhook_fields(await _json_object(ctx.request, "webhook"), creating=True)
    _check_event_capacity(ctx, fields["event"], None)
    webhook = Webhook(
        id=ctx.store.new_id(),
        tenant_id=ctx.tenant.id,
        event=fields["event"],
        url_template=fields["url_template"],
        description=fields.get("description"),
        enabled=fields.get("enabled", True),
        header_auth_key=fields.get("header_auth_key"),
        header_auth_value=fields.get("header_auth_value"),
        created_at=ctx.store.clock.now(),
    )
    ctx.store.webhooks[webhook.id] = webhook
    ctx.store.tenant_webhooks[ctx.tenant.id].append(webhook.id)
    return ctx.reply({"webhook": webhook.to_api()}, status=201)


@router.get("/tenants/{tenant_id}/webhooks/{webhook_id}", summary="Retrieve Webhook")
async def retrieve_webhook(
    webhook_id: str,
    ctx: Context = Depends(
        authorize(operation("retrieve_webhook", "GET", "/tenants/{tenant_id}/webhooks/{webhook_id}"))
    ),
) -> Response:
    return ctx.reply({"webhook": owned(ctx.store.webhooks, webhook_id, ctx.tenant.id).to_api()})


@router.put("/tenants/{tenant_id}/webhooks/{webhook_id}", summary="Update Webhook")
async def update_webhook(
    webhook_id: str,
    ctx: Context = Depends(authorize(operation("update_webhook", "PUT", "/tenants/{tenant_id}/webhooks/{webhook_id}"))),
) -> Response:
    webhook = owned(ctx.store.webhooks, webhook_id, ctx.tenant.id)
    fields = _webhook_fields(await _json_object(ctx.request, "webhook"), creating=False)
    if "event" in fields and fields["event"] != webhook.event:
        _check_event_capacity(ctx, fields["event"], webhook.id)
    for name, value in fields.items():
        setattr(webhook, name, value)
    if fields.get("enabled") is True:
        # Re-enabling starts a fresh failure streak, so the subscription is not disabled again at once.
        webhook.failed_attempts, webhook.failing_since, webhook.disabled_reason = 0, None, None
    return ctx.reply({"webhook": webhook.to_api()})


@router.delete("/tenants/{tenant_id}/webhooks/{webhook_id}", summary="Delete Webhook", status_code=204)
async def delete_webhook(
    webhook_id: str,
    ctx: Context = Depends(
        authorize(operation("delete_webhook", "DELETE", "/tenants/{tenant_id}/webhooks/{webhook_id}"))
    ),
) -> Response:
    webhook = owned(ctx.store.webhooks, webhook_id, ctx.tenant.id)
    webhook.enabled = False  # stops in-flight retries
    del ctx.store.webhooks[webhook.id]
    ctx.store.tenant_webhooks[ctx.tenant.id].remove(webhook.id)
    return Response(status_code=204)


# --- files (pre-signed, no Authorization, not rate limited) -------------------------------------------


@files_router.get("/files/{file_id}/{file_name}", summary="Download a signed file URL")
async def download_file(request: Request, file_id: str, file_name: str) -> Response:
    sim: Simulator = request.app.state.sim
    stored = sim.store.files.get(file_id)
    if stored is None or stored.file_name != file_name:
        raise not_found()
    try:
        expires = int(request.query_params.get("expires", ""))
    except ValueError:
        raise AuroraError(403, "Missing or malformed signature") from None
    problem = sim.check_signature(file_id, expires, request.query_params.get("signature", ""))
    if problem is not None:
        raise AuroraError(403, problem)
    if sim.faults.take_file_fault(file_id, "unauthorized"):
        raise AuroraError(401, "Unauthorized")
    body = sim.file_bytes(stored)
    return Response(
        body,
        media_type=stored.content_type,
        headers={"Content-Disposition": f'attachment; filename="{stored.file_name}"'},
    )


@files_router.get("/web_proposals/{token}", summary="Public web proposal page", response_class=HTMLResponse)
async def web_proposal_page(request: Request, token: str) -> Response:
    sim: Simulator = request.app.state.sim
    design_id = sim.store.web_proposals.get(token)
    if design_id is None:
        raise not_found()
    design = sim.store.designs[design_id]
    project = sim.store.projects[design.project_id]
    name = (project.data.get("name") or "Your solar proposal").replace("<", "&lt;")
    kw = design.system_size_stc / 1000
    return HTMLResponse(
        f"<!doctype html><html><head><title>{name}</title></head><body><h1>{name}</h1>"
        f"<p>{kw:.2f} kW solar system</p></body></html>"
    )
