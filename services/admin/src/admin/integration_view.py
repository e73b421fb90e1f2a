"""The integration as the API shows it (IntegrationOut): its triggers, subscriptions and counters."""

from __future__ import annotations

import uuid
from typing import Any

from admin.resources import Resources
from admin.schemas import (
    Counters,
    IntegrationOut,
    Subscription,
    TriggerRule,
    WorkflowRef,
)
from pipeline_common import webhooks
from pipeline_common.vocabulary import FAILURE_LOG_KINDS, LogKind

# ---------------------------------------------------------------- read model


async def triggers_of(conn: Any, integration_id: uuid.UUID) -> list[TriggerRule]:
    rows = await conn.fetch(
        "SELECT kind, statuses FROM triggers WHERE integration_id = $1 ORDER BY position, created_at",
        integration_id,
    )
    return [TriggerRule(kind=r["kind"], statuses=list(r["statuses"])) for r in rows]


async def subscriptions_of(conn: Any, integration_id: uuid.UUID) -> list[Subscription]:
    rows = await conn.fetch(
        "SELECT event, aurora_webhook_id FROM aurora_subscriptions WHERE integration_id = $1 ORDER BY event",
        integration_id,
    )
    return [Subscription(event=r["event"], aurora_webhook_id=r["aurora_webhook_id"]) for r in rows]


async def view(res: Resources, row: Any) -> IntegrationOut:
    async with res.pool.acquire() as conn:
        triggers = await triggers_of(conn, row["id"])
        subs = await subscriptions_of(conn, row["id"])
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
