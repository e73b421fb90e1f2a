"""Connection lifecycle under /v1/integrations/aurora: connect, read, replace the token, disconnect, and
rotate the webhook secret."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends

from admin import subscriptions
from admin.aurora_failures import aurora_error, aurora_failure
from admin.errors import ApiError, error_responses, validation_error
from admin.integration_view import subscriptions_of, triggers_of, view
from admin.resources import Resources, resources
from admin.schemas import (
    DEFAULT_TRIGGERS,
    ConnectRequest,
    DisconnectOut,
    IntegrationOut,
    TokenReplace,
    TriggerRule,
)
from admin.security import CurrentCompany
from admin.store import (
    credentials,
    latest_integration,
    not_connected,
    require_live,
    token_hint,
)
from admin.subscription_sync import delete_obsolete, sync
from admin.triggers_api import replace_triggers
from pipeline_common.aurora import (
    AuroraCredentials,
    AuroraError,
    WebhookUpdate,
    environment_for_token,
)
from pipeline_common.integration_log import write_log
from pipeline_common.logs import get_logger
from pipeline_common.vocabulary import LogKind

log = get_logger("admin.connection_api")
router = APIRouter(prefix="/v1/integrations/aurora", tags=["aurora integration"])
Res = Annotated[Resources, Depends(resources)]


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
        triggers = await triggers_of(conn, integration_id) if previous else []
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
                await replace_triggers(conn, integration_id, triggers)
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
    await delete_obsolete(res, creds, company.id, integration_id, plan.obsolete)
    log.info("aurora_connected", company_id=str(company.id), integration_id=str(integration_id))
    row = await require_live(res.pool, company.id)
    return await view(res, row)


async def latest_live(res: Resources, company_id: uuid.UUID) -> Any:
    return await res.pool.fetchrow(
        "SELECT id FROM integrations WHERE company_id = $1 AND status <> 'disconnected'", company_id
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
    return await view(res, row)


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
    return await view(res, await require_live(res.pool, company.id))


async def _resync_subscriptions_quietly(res: Resources, company_id: uuid.UUID) -> None:
    # Subscriptions belong to the tenant, not the key, so they normally survive; repair them if not.
    row = await require_live(res.pool, company_id)
    try:
        await sync(res, row, [t.kind for t in await triggers_of(res.pool, row["id"])])
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
    for sub in await subscriptions_of(res.pool, row["id"]):
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
        raise await aurora_error(res, row, first_error)
    return await view(res, await require_live(res.pool, company.id))


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
    return await view(res, await require_live(res.pool, company.id))
