"""Company Settings → Integrations: the Aurora Solar card, the Connect dialog and the configuration page.

Every change goes through the same functions the JSON API routes are (`admin.connection_api`, `admin.triggers_api`,
`admin.mappings_api`, `admin.crm`, …), so the page can never do something the API would refuse, nor refuse differently.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from admin import (
    backfill_api,
    connection_api,
    crm,
    import_settings_api,
    log_api,
    mappings_api,
    resync_api,
    triggers_api,
)
from admin.errors import ApiError
from admin.pages.sessions import PageSession, set_flash
from admin.pages.web import failed, form_values, moved, parse, redirect, render, succeeded
from admin.resources import Resources, resources
from admin.schemas import (
    ConnectRequest,
    CustomMappingCreate,
    IntegrationOut,
    ResyncRequest,
    StrategyUpdate,
    TokenReplace,
    TriggerRule,
    TriggersUpdate,
    WorkflowUpdate,
)
from admin.security import Company
from pipeline_common.vocabulary import (
    FAILURE_LOG_KINDS,
    LOG_KIND_LABELS,
    TRIGGER_AGREEMENT_STATUSES,
    LogKind,
    MatchingStrategy,
    TriggerKind,
)

router = APIRouter(prefix="/settings/integrations", include_in_schema=False)
Res = Annotated[Resources, Depends(resources)]

INTEGRATIONS = "/settings/integrations"
CONFIG = "/settings/integrations/aurora"

# Kinds written by the stages and the admin, for the log's filter (one label per pipeline_common LogKind).
LOG_KINDS = {k.value: label for k, label in LOG_KIND_LABELS.items()}
STRATEGIES = {
    MatchingStrategy.ENRICH.value: "Update existing projects with new information from Aurora; "
    "fields Aurora has no value for are kept.",
    MatchingStrategy.REPLACE.value: "Replace existing projects with Aurora data: "
    "mapped fields, Aurora line items and documents become exactly Aurora's.",
    MatchingStrategy.SKIP.value: "Leave existing projects unchanged (don't import duplicates).",
}
AGREEMENT_STATUS_LABELS = {s.value: s.value.capitalize() for s in TRIGGER_AGREEMENT_STATUSES}
LOG_PAGE_SIZE = 25


async def current_integration(res: Resources, company: Company) -> IntegrationOut | None:
    """The live integration, or the disconnected one it was; None when the company never connected."""
    try:
        return await connection_api.read(company, res)
    except ApiError as exc:
        if exc.code == "not_connected":
            return None
        raise


# ---------------------------------------------------------------- Integrations page, Connect dialog


@router.get("")
async def integrations_page(
    request: Request, session: PageSession, res: Res, connect: Annotated[bool, Query()] = False
) -> Response:
    current = await current_integration(res, session.company)
    live = current is not None and current.status != "disconnected"
    return await render(
        request, "integrations.html", session, integration=current, live=live, open_connect=connect and not live
    )


@router.post("/aurora/connect")
async def connect(request: Request, session: PageSession, res: Res) -> Response:
    form = await form_values(request)
    try:
        body = parse(
            ConnectRequest,
            {"tenant_id": form.get("tenant_id", ""), "bearer_token": form.get("bearer_token", "")},
        )
        await connection_api.connect(body, session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=INTEGRATIONS + "?connect=1")
    await set_flash(
        request, session, "success", "Aurora Solar is connected. Projects are created when agreements are signed."
    )
    return moved(request, CONFIG)


@router.get("/aurora/disconnect")
async def disconnect_confirmation(request: Request, session: PageSession, res: Res) -> Response:
    # The page behind the three-dot menu's Disconnect when JavaScript does not open the dialog.
    current = await current_integration(res, session.company)
    if current is None or current.status == "disconnected":
        return redirect(INTEGRATIONS)
    return await render(request, "disconnect.html", session, integration=current)


@router.post("/aurora/disconnect")
async def disconnect(request: Request, session: PageSession, res: Res) -> Response:
    try:
        out = await connection_api.disconnect(session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=INTEGRATIONS)
    message = "Aurora Solar is disconnected. Imported projects stay in the CRM; nothing new is imported."
    if out.subscriptions_not_deleted:
        message += f" {len(out.subscriptions_not_deleted)} Aurora webhook subscription(s) could not be removed."
    await set_flash(request, session, "success", message)
    return moved(request, INTEGRATIONS)


# ---------------------------------------------------------------- the configuration page


async def _failed_imports(res: Resources, integration_id: uuid.UUID) -> list[Any]:
    # The latest outcome per Aurora project within a month, kept only when it is a failure: a project that
    # imported fine after a retry is no longer listed.
    return list(
        await res.pool.fetch(
            "SELECT id, aurora_project_id, kind, message, created_at FROM ("
            " SELECT DISTINCT ON (aurora_project_id) id, aurora_project_id, kind, action, message, created_at"
            " FROM integration_log WHERE integration_id = $1 AND aurora_project_id IS NOT NULL"
            " AND created_at > now() - interval '30 days' AND (kind = $2 OR kind = ANY($3::text[]))"
            " ORDER BY aurora_project_id, id DESC) latest "
            "WHERE action = 'failed' OR kind = ANY($3::text[]) ORDER BY id DESC LIMIT 20",
            integration_id,
            LogKind.IMPORT,
            list(FAILURE_LOG_KINDS),
        )
    )


async def _latest_backfill(res: Resources, company: Company, integration_id: uuid.UUID) -> Any:
    backfill_id = await res.pool.fetchval(
        "SELECT id FROM backfills WHERE integration_id = $1 ORDER BY created_at DESC LIMIT 1", integration_id
    )
    if backfill_id is None:
        return None
    return await backfill_api.get_backfill(backfill_id, company, res)


def _positive_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) > 0 else None


@router.get("/aurora")
async def configuration_page(
    request: Request,
    session: PageSession,
    res: Res,
    log_kind: Annotated[str | None, Query(max_length=50)] = None,
    log_project: Annotated[str | None, Query(max_length=200)] = None,
    log_before: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    company = session.company
    current = await current_integration(res, company)
    if current is None or current.status == "disconnected":
        return redirect(INTEGRATIONS)
    log_kind = log_kind if log_kind in LOG_KINDS else None
    log_project = (log_project or "").strip() or None
    log_page = await log_api.read_log(company, res, LOG_PAGE_SIZE, _positive_int(log_before), log_kind, log_project)
    triggers = {t.kind: t.statuses for t in current.triggers}
    return await render(
        request,
        "configuration.html",
        session,
        integration=current,
        agreement_statuses=triggers.get(TriggerKind.AGREEMENT_STATUS_CHANGED, []),
        project_statuses=", ".join(triggers.get(TriggerKind.PROJECT_STATUS_CHANGED, [])),
        agreement_status_labels=AGREEMENT_STATUS_LABELS,
        workflows=await crm.list_workflows(company, res),
        standard_mappings=await mappings_api.standard_mappings(company),
        custom_mappings=await mappings_api.list_mappings(company, res),
        custom_properties=await crm.list_properties(company, res),
        aurora_fields=await mappings_api.aurora_fields(company),
        strategies=STRATEGIES,
        failures=await _failed_imports(res, current.id),
        backfill=await _latest_backfill(res, company, current.id),
        log=log_page,
        log_kinds=LOG_KINDS,
        failure_kinds=[k.value for k in FAILURE_LOG_KINDS],
        log_kind=log_kind,
        log_project=log_project,
        filtered=log_kind is not None or log_project is not None,
    )


# ---------------------------------------------------------------- the configuration page's forms


@router.post("/aurora/triggers")
async def save_triggers(request: Request, session: PageSession, res: Res) -> Response:
    form = await request.form()
    agreement = [s for s in form.getlist("agreement_statuses") if isinstance(s, str)]
    project_raw = form.get("project_statuses")
    project = [s for s in (project_raw if isinstance(project_raw, str) else "").split(",") if s.strip()]
    rules = []
    if agreement:
        rules.append(TriggerRule(kind=TriggerKind.AGREEMENT_STATUS_CHANGED, statuses=agreement))
    if project:
        rules.append(TriggerRule(kind=TriggerKind.PROJECT_STATUS_CHANGED, statuses=project))
    try:
        await triggers_api.put_triggers(TriggersUpdate(triggers=rules), session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=CONFIG + "#trigger")
    return await succeeded(request, session, "Trigger saved.", to=CONFIG + "#trigger")


@router.post("/aurora/workflow")
async def save_workflow(request: Request, session: PageSession, res: Res) -> Response:
    form = await form_values(request)
    try:
        body = parse(WorkflowUpdate, {"workflow_id": form.get("workflow_id") or None})
        out = await import_settings_api.put_workflow(body, session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=CONFIG + "#workflow")
    message = f"Workflow saved: {out.workflow.name}." if out.workflow else "Workflow cleared."
    return await succeeded(request, session, message, to=CONFIG + "#workflow")


@router.post("/aurora/matching-strategy")
async def save_strategy(request: Request, session: PageSession, res: Res) -> Response:
    form = await form_values(request)
    try:
        body = parse(StrategyUpdate, {"strategy": form.get("strategy", "")})
        await import_settings_api.put_strategy(body, session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=CONFIG + "#matching-strategy")
    return await succeeded(
        request, session, f"Matching strategy saved: {body.strategy.capitalize()}.", to=CONFIG + "#matching-strategy"
    )


@router.post("/aurora/custom-mappings")
async def add_mapping(request: Request, session: PageSession, res: Res) -> Response:
    form = await form_values(request)
    try:
        body = parse(
            CustomMappingCreate,
            {"custom_property_id": form.get("custom_property_id", ""), "aurora_path": form.get("aurora_path", "")},
        )
        created = await mappings_api.create_mapping(body, session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=CONFIG + "#custom-mappings")
    return await succeeded(
        request,
        session,
        f"Mapping saved: {created.aurora_path} → {created.property_name}.",
        to=CONFIG + "#custom-mappings",
    )


@router.post("/aurora/custom-mappings/{mapping_id}/delete")
async def remove_mapping(mapping_id: uuid.UUID, request: Request, session: PageSession, res: Res) -> Response:
    try:
        await mappings_api.delete_mapping(mapping_id, session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=CONFIG + "#custom-mappings")
    return await succeeded(request, session, "Mapping removed.", to=CONFIG + "#custom-mappings")


@router.post("/aurora/token")
async def update_token(request: Request, session: PageSession, res: Res) -> Response:
    form = await form_values(request)
    try:
        body = parse(TokenReplace, {"bearer_token": form.get("bearer_token", "")})
        await connection_api.replace_token(body, session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=CONFIG)
    return await succeeded(request, session, "Token updated and verified; the integration is active again.", to=CONFIG)


@router.post("/aurora/resync")
async def resync(request: Request, session: PageSession, res: Res) -> Response:
    form = await form_values(request)
    try:
        body = parse(ResyncRequest, {"aurora_project_id": form.get("aurora_project_id", "")})
        out = await resync_api.resync(body, session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=CONFIG + "#resync")
    message = f"Re-sync of Aurora project {out.aurora_project_id} requested; the result appears in the log."
    return await succeeded(request, session, message, to=CONFIG + "#resync")


def _start_of_day(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise ApiError(422, "validation_error", "created after: not a date", field="created_after") from None


@router.post("/aurora/backfill")
async def start_backfill(request: Request, session: PageSession, res: Res) -> Response:
    form = await form_values(request)
    try:
        body = parse(
            backfill_api.BackfillRequest,
            {
                "created_after": _start_of_day(str(form.get("created_after") or "").strip()),
                "limit": str(form.get("limit") or "").strip() or None,
            },
        )
        out = await backfill_api.start_backfill(body, session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=CONFIG + "#backfill")
    return await succeeded(
        request, session, "Backfill started.", to=CONFIG + "#backfill", data={"backfill": out.model_dump(mode="json")}
    )


@router.get("/aurora/backfill/{backfill_id}")
async def backfill_progress(backfill_id: uuid.UUID, session: PageSession, res: Res) -> Response:
    # Polled by the progress bar; the same 404 for another company's backfill as the API gives.
    try:
        out = await backfill_api.get_backfill(backfill_id, session.company, res)
    except ApiError as exc:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)
    return JSONResponse(out.model_dump(mode="json"))
