"""The Aurora integration of a company, under /v1/integrations/aurora: every step of the user guide."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Response

from admin import subscriptions
from admin.errors import ApiError, error_responses, not_found, validation_error
from admin.resources import Resources, resources
from admin.schemas import (
    DEFAULT_TRIGGERS,
    AuroraFieldOut,
    ConnectRequest,
    Counters,
    CustomMappingCreate,
    CustomMappingOut,
    DisconnectOut,
    IntegrationOut,
    LogEntry,
    LogPage,
    ResyncAccepted,
    ResyncRequest,
    StandardMappingOut,
    StrategyUpdate,
    Subscription,
    TokenReplace,
    TriggerRule,
    TriggersOut,
    TriggersUpdate,
    WorkflowRef,
    WorkflowUpdate,
)
from admin.security import CurrentCompany
from admin.store import (
    credentials,
    latest_integration,
    mark_needs_attention,
    not_connected,
    require_live,
    token_hint,
)
from pipeline_common import topics, webhooks
from pipeline_common.aurora import (
    AuroraCredentials,
    AuroraError,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    RateLimited,
    WebhookUpdate,
    environment_for_token,
)
from pipeline_common.broker import publish_event
from pipeline_common.events import ImportReason, ImportRequested, TriggerRef
from pipeline_common.integration_log import write_log
from pipeline_common.logs import get_logger
from pipeline_common.mapping_catalog import (
    AURORA_FIELDS,
    STANDARD_MAPPINGS,
    PropertyType,
    aurora_field,
    compatible_property_types,
)
from pipeline_common.vocabulary import FAILURE_LOG_KINDS, TRIGGER_AGREEMENT_STATUSES, LogKind, TriggerKind

log = get_logger("admin.integration")
router = APIRouter(prefix="/v1/integrations/aurora", tags=["aurora integration"])
Res = Annotated[Resources, Depends(resources)]
SOURCE = "admin"


# ---------------------------------------------------------------- Aurora failures → API errors


def aurora_failure(exc: AuroraError, *, verifying: bool) -> ApiError:
    """Map the client's error taxonomy onto our answers; Aurora's own reason goes into the message."""
    if isinstance(exc, InvalidCredentials):
        return ApiError(422, "invalid_credentials", f"Aurora rejected the bearer token: {exc.message}")
    if isinstance(exc, NotFound) and verifying:
        return ApiError(
            422,
            "invalid_credentials",
            f"Aurora does not know this tenant id for this key ({exc.message}); check the tenant id and that "
            "key and tenant are from the same environment",
        )
    if isinstance(exc, NotPermitted):
        return ApiError(422, "insufficient_permissions", f"the Aurora key is not allowed to do this: {exc.message}")
    if isinstance(exc, RateLimited):
        return ApiError(503, "aurora_rate_limited", "Aurora's rate limit for this key is exhausted; retry shortly")
    if exc.retryable:
        return ApiError(502, "aurora_unavailable", f"Aurora could not be reached ({exc}); nothing was saved")
    return ApiError(502, "aurora_error", f"Aurora answered unexpectedly: {exc}")


async def _aurora_error(res: Resources, row: Any, exc: AuroraError) -> ApiError:
    # A key rejected later (revoked, expired) is the company's to fix: say so on the integration too.
    if isinstance(exc, InvalidCredentials):
        await mark_needs_attention(res, row, f"Aurora rejected the stored token: {exc.message}")
    return aurora_failure(exc, verifying=False)


# ---------------------------------------------------------------- read model


async def _triggers(conn: Any, integration_id: uuid.UUID) -> list[TriggerRule]:
    rows = await conn.fetch(
        "SELECT kind, statuses FROM triggers WHERE integration_id = $1 ORDER BY position, created_at",
        integration_id,
    )
    return [TriggerRule(kind=r["kind"], statuses=list(r["statuses"])) for r in rows]


async def _subscriptions(conn: Any, integration_id: uuid.UUID) -> list[Subscription]:
    rows = await conn.fetch(
        "SELECT event, aurora_webhook_id FROM aurora_subscriptions WHERE integration_id = $1 ORDER BY event",
        integration_id,
    )
    return [Subscription(event=r["event"], aurora_webhook_id=r["aurora_webhook_id"]) for r in rows]


async def _view(res: Resources, row: Any) -> IntegrationOut:
    async with res.pool.acquire() as conn:
        triggers = await _triggers(conn, row["id"])
        subs = await _subscriptions(conn, row["id"])
        workflow = None
        if row["workflow_id"] is not None:
            w = await conn.fetchrow("SELECT id, name FROM workflows WHERE id = $1", row["workflow_id"])
            workflow = WorkflowRef(id=w["id"], name=w["name"]) if w is not None else None
        # Convention with the importer: one `import` entry per import result, its action the outcome;
        # failures are FAILURE_LOG_KINDS entries (or any entry with action `failed`).
        counts: Any = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE kind = $2 AND action IN ('created','updated','replaced')) AS imported,"
            " count(*) FILTER (WHERE kind = $2 AND action = 'skipped') AS skipped,"
            " count(*) FILTER (WHERE action = 'failed' OR kind = ANY($3::text[])) AS failed, "
            # When webhooks last arrived is the trigger filter's record (migration 0015).
            " (SELECT last_event_at FROM integration_activity WHERE integration_id = $1) AS last_event_at "
            "FROM integration_log WHERE integration_id = $1",
            row["id"],
            LogKind.IMPORT,
            list(FAILURE_LOG_KINDS),
        )
    return IntegrationOut(
        id=row["id"],
        status=row["status"],
        status_reason=row["status_reason"],
        environment=row["environment"],
        tenant_id=row["aurora_tenant_id"],
        token_hint=row["token_hint"],
        webhook_url=res.settings.public_webhook_base_url.rstrip("/") + webhooks.webhook_path(str(row["id"])),
        triggers=triggers,
        subscriptions=subs,
        workflow=workflow,
        matching_strategy=row["matching_strategy"],
        counters=Counters(
            imported=counts["imported"],
            skipped=counts["skipped"],
            failed=counts["failed"],
            last_event_at=counts["last_event_at"],
        ),
        connected_at=row["connected_at"],
        disconnected_at=row["disconnected_at"],
    )


# ---------------------------------------------------------------- connect / read / token / disconnect


@router.post(
    "",
    status_code=201,
    response_model=IntegrationOut,
    summary="Connect Aurora Solar",
    description="Verifies the credentials with Aurora (Retrieve Tenant) before saving anything, then stores the "
    "token encrypted, creates the default trigger *Agreement status changed → Signed* and registers the webhook "
    "subscriptions in Aurora. Reconnecting after a disconnect keeps the earlier settings when the tenant is the "
    "same.",
    responses=error_responses(401, 409, 422, 502),
)
async def connect(body: ConnectRequest, company: CurrentCompany, res: Res) -> IntegrationOut:
    if await latest_live(res, company.id) is not None:
        raise ApiError(409, "already_connected", "Aurora Solar is already connected; disconnect it first")
    creds = AuroraCredentials(tenant_id=body.tenant_id, token=body.bearer_token)
    environment = environment_for_token(body.bearer_token).value
    try:
        await res.aurora.retrieve_tenant(creds)
    except AuroraError as exc:
        log.info("aurora_connect_refused", company_id=str(company.id), error=type(exc).__name__)
        raise aurora_failure(exc, verifying=True) from None

    previous = await res.pool.fetchrow(
        "SELECT id, webhook_generation FROM integrations WHERE company_id = $1 AND status = 'disconnected' "
        "AND aurora_tenant_id = $2 ORDER BY connected_at DESC LIMIT 1",
        company.id,
        body.tenant_id,
    )
    integration_id: uuid.UUID = previous["id"] if previous else uuid.uuid4()
    # A new generation on reconnect: secrets of subscriptions that survived the disconnect stop working.
    generation = previous["webhook_generation"] + 1 if previous else 1
    async with res.pool.acquire() as conn:
        triggers = await _triggers(conn, integration_id) if previous else []
    if not triggers:
        triggers = [TriggerRule.model_validate(t) for t in DEFAULT_TRIGGERS]
    try:
        plan = await subscriptions.plan_and_create(
            res,
            creds,
            integration_id=integration_id,
            generation=generation,
            needed_events=subscriptions.needed_events(t.kind for t in triggers),
            recorded={},
        )
    except AuroraError as exc:
        raise aurora_failure(exc, verifying=True) from None

    ciphertext = res.cipher.encrypt(body.bearer_token)
    try:
        async with res.pool.acquire() as conn, conn.transaction():
            if previous:
                await conn.execute(
                    "UPDATE integrations SET environment = $2, token_ciphertext = $3, token_hint = $4, "
                    "status = 'active', status_reason = NULL, webhook_generation = $5, "
                    "webhook_previous_generation = NULL, connected_at = now(), disconnected_at = NULL, "
                    "updated_at = now() WHERE id = $1",
                    integration_id,
                    environment,
                    ciphertext,
                    token_hint(body.bearer_token),
                    generation,
                )
            else:
                await conn.execute(
                    "INSERT INTO integrations (id, company_id, aurora_tenant_id, environment, token_ciphertext, "
                    "token_hint, webhook_generation) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    integration_id,
                    company.id,
                    body.tenant_id,
                    environment,
                    ciphertext,
                    token_hint(body.bearer_token),
                    generation,
                )
                await _replace_triggers(conn, integration_id, triggers)
            await subscriptions.record(conn, integration_id, plan.subscriptions)
            await write_log(
                conn,
                company_id=company.id,
                integration_id=integration_id,
                kind=LogKind.CONNECTED,
                message=f"connected to Aurora tenant {body.tenant_id} ({environment})",
                details={"subscriptions": plan.subscriptions, "reconnected": previous is not None},
            )
    except asyncpg.UniqueViolationError:
        # Two connects raced; the other one won and owns its own subscriptions.
        await subscriptions.delete_best_effort(res, creds, plan.created)
        raise ApiError(409, "already_connected", "Aurora Solar is already connected; disconnect it first") from None
    await _delete_obsolete(res, creds, company.id, integration_id, plan.obsolete)
    log.info("aurora_connected", company_id=str(company.id), integration_id=str(integration_id))
    row = await require_live(res.pool, company.id)
    return await _view(res, row)


async def latest_live(res: Resources, company_id: uuid.UUID) -> Any:
    return await res.pool.fetchrow(
        "SELECT id FROM integrations WHERE company_id = $1 AND status <> 'disconnected'", company_id
    )


async def _delete_obsolete(
    res: Resources, creds: AuroraCredentials, company_id: uuid.UUID, integration_id: uuid.UUID, ids: list[str]
) -> None:
    if not ids:
        return
    deleted, failed = await subscriptions.delete_best_effort(res, creds, ids)
    await write_log(
        res.pool,
        company_id=company_id,
        integration_id=integration_id,
        kind=LogKind.SUBSCRIPTIONS,
        message=f"removed {len(deleted)} Aurora webhook subscription(s) no longer needed"
        + (f"; {len(failed)} could not be removed" if failed else ""),
        details={"deleted": deleted, "failed": failed},
    )


@router.get(
    "",
    response_model=IntegrationOut,
    summary="Read the integration",
    description="Status (active, needs_attention with the reason, disconnected), environment, tenant, webhook URL, "
    "triggers, workflow, matching strategy and counters. After a disconnect this shows the disconnected "
    "integration.",
    responses=error_responses(401, 404),
)
async def read(company: CurrentCompany, res: Res) -> IntegrationOut:
    row = await latest_integration(res.pool, company.id)
    if row is None:
        raise not_connected()
    return await _view(res, row)


@router.put(
    "/token",
    response_model=IntegrationOut,
    summary="Replace the Aurora token",
    description="For a token Aurora rejected later (the integration then needs attention): verifies the new token "
    "against the connected tenant, stores it encrypted and makes the integration active again. Parked imports "
    "are completed by a re-sync of their projects.",
    responses=error_responses(401, 404, 422, 502),
)
async def replace_token(body: TokenReplace, company: CurrentCompany, res: Res) -> IntegrationOut:
    row = await require_live(res.pool, company.id)
    environment = environment_for_token(body.bearer_token).value
    if environment != row["environment"]:
        raise validation_error(
            "bearer_token",
            f"this is a {environment} key but the integration is connected to Aurora {row['environment']}; "
            "disconnect and connect again to change environment",
        )
    creds = AuroraCredentials(tenant_id=row["aurora_tenant_id"], token=body.bearer_token)
    try:
        await res.aurora.retrieve_tenant(creds)
    except AuroraError as exc:
        raise aurora_failure(exc, verifying=True) from None
    async with res.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE integrations SET token_ciphertext = $2, token_hint = $3, status = 'active', "
            "status_reason = NULL, updated_at = now() WHERE id = $1",
            row["id"],
            res.cipher.encrypt(body.bearer_token),
            token_hint(body.bearer_token),
        )
        # Imports parked while Aurora rejected the old token go back to the fetch queue in the same transaction.
        resumed = await conn.fetchval("SELECT resume_parked_imports($1)", row["id"])
        await write_log(
            conn,
            company_id=company.id,
            integration_id=row["id"],
            kind=LogKind.TOKEN_REPLACED,
            message="Aurora token replaced and verified" + (f"; {resumed} parked import(s) resumed" if resumed else ""),
        )
    await _resync_subscriptions_quietly(res, company.id)
    return await _view(res, await require_live(res.pool, company.id))


async def _resync_subscriptions_quietly(res: Resources, company_id: uuid.UUID) -> None:
    # Subscriptions belong to the tenant, not the key, so they normally survive; repair them if not.
    row = await require_live(res.pool, company_id)
    try:
        await _sync(res, row, [t.kind for t in await _triggers(res.pool, row["id"])])
    except (AuroraError, ApiError) as exc:
        await write_log(
            res.pool,
            company_id=company_id,
            integration_id=row["id"],
            kind=LogKind.SUBSCRIPTIONS,
            message=f"could not check the Aurora webhook subscriptions: {exc}",
        )


@router.delete(
    "",
    response_model=DisconnectOut,
    summary="Disconnect Aurora Solar",
    description="Stops all processing for the company (webhooks arriving later are answered and logged as "
    "ignored), deletes the Aurora webhook subscriptions (best effort, logged) and keeps every imported project.",
    responses=error_responses(401, 404),
)
async def disconnect(company: CurrentCompany, res: Res) -> DisconnectOut:
    row = await require_live(res.pool, company.id)
    async with res.pool.acquire() as conn, conn.transaction():
        # Status first: the pipeline stops acting on this company even if Aurora cannot be reached below.
        await conn.execute(
            "UPDATE integrations SET status = 'disconnected', status_reason = NULL, disconnected_at = now(), "
            "updated_at = now() WHERE id = $1",
            row["id"],
        )
        hook_ids = [
            r["aurora_webhook_id"]
            for r in await conn.fetch(
                "SELECT aurora_webhook_id FROM aurora_subscriptions WHERE integration_id = $1", row["id"]
            )
        ]
        await conn.execute("DELETE FROM aurora_subscriptions WHERE integration_id = $1", row["id"])
        await conn.execute(
            "UPDATE backfills SET status = 'failed', error = 'integration disconnected', finished_at = now() "
            "WHERE integration_id = $1 AND status = 'running'",
            row["id"],
        )
    try:
        creds = credentials(res, row)
        deleted, failed = await subscriptions.delete_best_effort(res, creds, hook_ids)
    except Exception as exc:  # a key that no longer decrypts must not block a disconnect
        deleted, failed = [], {h: f"not attempted: {type(exc).__name__}" for h in hook_ids}
    await write_log(
        res.pool,
        company_id=company.id,
        integration_id=row["id"],
        kind=LogKind.DISCONNECTED,
        message="disconnected; imported projects are kept"
        + (f"; {len(failed)} Aurora subscription(s) could not be deleted" if failed else ""),
        details={"deleted": deleted, "failed": failed},
    )
    log.info("aurora_disconnected", company_id=str(company.id), integration_id=str(row["id"]))
    return DisconnectOut(
        status="disconnected", subscriptions_deleted=len(deleted), subscriptions_not_deleted=list(failed)
    )


# ---------------------------------------------------------------- triggers


def _validate_rules(rules: list[TriggerRule]) -> list[TriggerRule]:
    if not rules:
        raise validation_error("triggers", "at least one trigger is required; disconnect to stop imports")
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.kind in seen:
            raise validation_error(
                f"triggers[{i}].kind", f"only one {rule.kind} rule is allowed; list all its statuses in that rule"
            )
        seen.add(rule.kind)
        if rule.kind == TriggerKind.AGREEMENT_STATUS_CHANGED:
            statuses = [s.lower() for s in rule.statuses]
            unknown = [s for s in statuses if s not in TRIGGER_AGREEMENT_STATUSES]
            if unknown:
                raise validation_error(
                    f"triggers[{i}].statuses",
                    f"unknown agreement status {unknown[0]!r}; choose from {', '.join(TRIGGER_AGREEMENT_STATUSES)}",
                )
            rule.statuses = statuses
    return rules


async def _replace_triggers(conn: Any, integration_id: uuid.UUID, rules: list[TriggerRule]) -> None:
    await conn.execute("DELETE FROM triggers WHERE integration_id = $1", integration_id)
    for position, rule in enumerate(rules):
        await conn.execute(
            "INSERT INTO triggers (id, integration_id, kind, statuses, position) VALUES ($1, $2, $3, $4, $5)",
            uuid.uuid4(),
            integration_id,
            rule.kind,
            rule.statuses,
            position,
        )


async def _sync(res: Resources, row: Any, kinds: list[str]) -> subscriptions.SyncPlan:
    creds = credentials(res, row)
    recorded = {s.event: s.aurora_webhook_id for s in await _subscriptions(res.pool, row["id"])}
    try:
        return await subscriptions.plan_and_create(
            res,
            creds,
            integration_id=row["id"],
            generation=row["webhook_generation"],
            needed_events=subscriptions.needed_events(kinds),
            recorded=recorded,
        )
    except AuroraError as exc:
        raise await _aurora_error(res, row, exc) from None


@router.get(
    "/triggers",
    response_model=TriggersOut,
    summary="The triggers that start an import",
    responses=error_responses(401, 404),
)
async def get_triggers(company: CurrentCompany, res: Res) -> TriggersOut:
    row = await require_live(res.pool, company.id)
    return TriggersOut(
        triggers=await _triggers(res.pool, row["id"]), subscriptions=await _subscriptions(res.pool, row["id"])
    )


@router.put(
    "/triggers",
    response_model=TriggersOut,
    summary="Replace the triggers",
    description="Each rule is `agreement_status_changed` with statuses from sent, viewed, signed, or "
    "`project_status_changed` with one or more status names. Saving registers the Aurora webhook subscriptions "
    "the rules need and removes the ones they no longer need; `agreement_status_changed` stays subscribed "
    "whatever the rules, so every import of a signed deal finds its agreement. Nothing is saved if Aurora refuses.",
    responses=error_responses(401, 404, 422, 502),
)
async def put_triggers(body: TriggersUpdate, company: CurrentCompany, res: Res) -> TriggersOut:
    rules = _validate_rules(body.triggers)
    row = await require_live(res.pool, company.id)
    plan = await _sync(res, row, [r.kind for r in rules])
    async with res.pool.acquire() as conn, conn.transaction():
        await _replace_triggers(conn, row["id"], rules)
        await subscriptions.record(conn, row["id"], plan.subscriptions)
        await write_log(
            conn,
            company_id=company.id,
            integration_id=row["id"],
            kind=LogKind.SETTINGS,
            message="triggers changed: " + "; ".join(f"{r.kind} → {', '.join(r.statuses)}" for r in rules),
            details={"triggers": [r.model_dump() for r in rules], "subscriptions": plan.subscriptions},
        )
    await _delete_obsolete(res, credentials(res, row), company.id, row["id"], plan.obsolete)
    return TriggersOut(triggers=rules, subscriptions=await _subscriptions(res.pool, row["id"]))


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
    return await _view(res, await require_live(res.pool, company.id))


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
    return await _view(res, await require_live(res.pool, company.id))


# ---------------------------------------------------------------- mappings


@router.get(
    "/standard-mappings",
    response_model=list[StandardMappingOut],
    summary="The fixed standard field mappings",
    description="What every import writes where. Not customisable; add custom mappings for anything else.",
    responses=error_responses(401),
)
async def standard_mappings(company: CurrentCompany) -> list[StandardMappingOut]:
    return [
        StandardMappingOut(target=m.target, source=m.source, type=m.type, description=m.description)
        for m in STANDARD_MAPPINGS
    ]


@router.get(
    "/aurora-fields",
    response_model=list[AuroraFieldOut],
    summary="Aurora fields a custom mapping can use",
    description="Dotted paths into the snapshot of Aurora data each import fetches, with their types and the "
    "custom property types each can map to.",
    responses=error_responses(401),
)
async def aurora_fields(company: CurrentCompany) -> list[AuroraFieldOut]:
    return [
        AuroraFieldOut(
            path=f.path,
            type=f.type,
            description=f.description,
            example=f.example,
            compatible_property_types=list(compatible_property_types(f.type)),
        )
        for f in AURORA_FIELDS
    ]


_MAPPING_SQL = (
    "SELECT m.id, m.custom_property_id, p.key AS property_key, p.name AS property_name, "
    "p.type AS property_type, m.aurora_path, m.created_at FROM custom_mappings m "
    "JOIN custom_properties p ON p.id = m.custom_property_id "
)


def _mapping(row: Any) -> CustomMappingOut:
    field = aurora_field(row["aurora_path"])
    return CustomMappingOut(**dict(row), aurora_type=field.type if field else None)


@router.get(
    "/custom-mappings",
    response_model=list[CustomMappingOut],
    summary="Custom property mappings",
    responses=error_responses(401, 404),
)
async def list_mappings(company: CurrentCompany, res: Res) -> list[CustomMappingOut]:
    row = await require_live(res.pool, company.id)
    rows = await res.pool.fetch(_MAPPING_SQL + "WHERE m.integration_id = $1 ORDER BY p.key", row["id"])
    return [_mapping(r) for r in rows]


@router.post(
    "/custom-mappings",
    status_code=201,
    response_model=CustomMappingOut,
    summary="Map an Aurora field onto a custom property",
    description="The Aurora field's type must suit the property's type (see `GET .../aurora-fields`). One "
    "mapping per property.",
    responses=error_responses(401, 404, 409, 422),
)
async def create_mapping(body: CustomMappingCreate, company: CurrentCompany, res: Res) -> CustomMappingOut:
    row = await require_live(res.pool, company.id)
    prop = await res.pool.fetchrow(
        "SELECT id, key, type FROM custom_properties WHERE id = $1 AND company_id = $2",
        body.custom_property_id,
        company.id,
    )
    if prop is None:
        raise not_found("custom property")
    path = body.aurora_path.strip()
    field = aurora_field(path)
    if field is None:
        raise validation_error(
            "aurora_path", f"unknown Aurora field {path!r}; GET /v1/integrations/aurora/aurora-fields lists them"
        )
    allowed = compatible_property_types(field.type)
    if PropertyType(prop["type"]) not in allowed:
        raise ApiError(
            422,
            "incompatible_types",
            f"{path} is a {field.type.value} field and cannot fill the {prop['type']} property {prop['key']!r}; "
            f"compatible property types: {', '.join(t.value for t in allowed)}",
            field="aurora_path",
        )
    mapping_id = uuid.uuid4()
    try:
        async with res.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO custom_mappings (id, integration_id, custom_property_id, aurora_path) "
                "VALUES ($1, $2, $3, $4)",
                mapping_id,
                row["id"],
                prop["id"],
                path,
            )
            await write_log(
                conn,
                company_id=company.id,
                integration_id=row["id"],
                kind=LogKind.SETTINGS,
                message=f"custom mapping added: {path} → {prop['key']}",
            )
    except asyncpg.UniqueViolationError:
        raise ApiError(
            409, "already_mapped", f"custom property {prop['key']!r} is already mapped; delete that mapping first"
        ) from None
    created = await res.pool.fetchrow(_MAPPING_SQL + "WHERE m.id = $1", mapping_id)
    return _mapping(created)


@router.delete(
    "/custom-mappings/{mapping_id}",
    status_code=204,
    summary="Remove a custom mapping",
    responses=error_responses(401, 404),
)
async def delete_mapping(mapping_id: uuid.UUID, company: CurrentCompany, res: Res) -> Response:
    row = await require_live(res.pool, company.id)
    async with res.pool.acquire() as conn, conn.transaction():
        path = await conn.fetchval(
            "DELETE FROM custom_mappings WHERE id = $1 AND integration_id = $2 RETURNING aurora_path",
            mapping_id,
            row["id"],
        )
        if path is None:
            raise not_found("custom mapping")
        await write_log(
            conn,
            company_id=company.id,
            integration_id=row["id"],
            kind=LogKind.SETTINGS,
            message=f"custom mapping removed: {path}",
        )
    return Response(status_code=204)


# ---------------------------------------------------------------- log


@router.get(
    "/log",
    response_model=LogPage,
    summary="The integration log, newest first",
    description="Every webhook received, trigger decision (with the reason when skipped), fetch error and import "
    "result, plus settings changes. Entries of one event share its `event_id`. Page with `before`.",
    responses=error_responses(401, 422),
)
async def read_log(
    company: CurrentCompany,
    res: Res,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, description="only entries older than this id")] = None,
    kind: Annotated[str | None, Query(max_length=50, description="e.g. webhook, import, fetch_error")] = None,
    aurora_project_id: Annotated[str | None, Query(max_length=200)] = None,
) -> LogPage:
    rows = await res.pool.fetch(
        "SELECT id, event_id, kind, aurora_project_id, crm_project_id, action, message, details, created_at "
        "FROM integration_log WHERE company_id = $1 AND ($2::bigint IS NULL OR id < $2) "
        "AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR aurora_project_id = $4) "
        "ORDER BY id DESC LIMIT $5",
        company.id,
        before,
        kind,
        aurora_project_id,
        limit + 1,
    )
    items = [LogEntry(**dict(r)) for r in rows[:limit]]
    return LogPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


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
        raise await _aurora_error(res, row, exc) from None
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


# ---------------------------------------------------------------- webhook secret rotation


@router.post(
    "/webhook-secret/rotate",
    response_model=IntegrationOut,
    summary="Rotate the webhook secret without missing webhooks",
    description="Starts a new secret generation and updates the header of every Aurora subscription to it. "
    "The previous generation stays accepted by the gateway (deliveries already queued or retried by Aurora "
    "still carry it) until `POST …/webhook-secret/retire-previous`. Secrets are derived, never stored or "
    "returned.",
    responses=error_responses(401, 404, 502),
)
async def rotate_webhook_secret(company: CurrentCompany, res: Res) -> IntegrationOut:
    row = await require_live(res.pool, company.id)
    generation = row["webhook_generation"] + 1
    async with res.pool.acquire() as conn, conn.transaction():
        # Accept both generations before Aurora starts sending the new one.
        await conn.execute(
            "UPDATE integrations SET webhook_previous_generation = webhook_generation, webhook_generation = $2, "
            "updated_at = now() WHERE id = $1",
            row["id"],
            generation,
        )
    creds = credentials(res, row)
    header = subscriptions.header_value(res, row["id"], generation)
    updated = 0
    failed: dict[str, str] = {}
    first_error: AuroraError | None = None
    for sub in await _subscriptions(res.pool, row["id"]):
        try:
            await res.aurora.update_webhook(creds, sub.aurora_webhook_id, WebhookUpdate(header_auth_value=header))
            updated += 1
        except AuroraError as exc:
            failed[sub.aurora_webhook_id] = str(exc)
            first_error = first_error or exc
    await write_log(
        res.pool,
        company_id=company.id,
        integration_id=row["id"],
        kind=LogKind.SETTINGS,
        message=f"webhook secret rotated to generation {generation}; {updated} Aurora subscription(s) updated"
        + (f", {len(failed)} failed (the previous secret stays accepted)" if failed else ""),
        details={"generation": generation, "failed": failed},
    )
    if first_error is not None:
        raise await _aurora_error(res, row, first_error)
    return await _view(res, await require_live(res.pool, company.id))


@router.post(
    "/webhook-secret/retire-previous",
    response_model=IntegrationOut,
    summary="Stop accepting the previous webhook secret",
    description="After a rotation, once Aurora's retries of older deliveries are over (Aurora retries for about "
    "24 hours), webhooks signed with the previous generation are refused with 401.",
    responses=error_responses(401, 404),
)
async def retire_previous_webhook_secret(company: CurrentCompany, res: Res) -> IntegrationOut:
    row = await require_live(res.pool, company.id)
    await res.pool.execute(
        "UPDATE integrations SET webhook_previous_generation = NULL, updated_at = now() WHERE id = $1", row["id"]
    )
    await write_log(
        res.pool,
        company_id=company.id,
        integration_id=row["id"],
        kind=LogKind.SETTINGS,
        message=f"previous webhook secret retired; only generation {row['webhook_generation']} is accepted",
    )
    return await _view(res, await require_live(res.pool, company.id))
