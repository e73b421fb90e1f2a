"""Keeping the tenant's Aurora webhook subscriptions what the triggers need, and logging what changed."""

from __future__ import annotations

import uuid
from typing import Any

from admin import subscriptions
from admin.aurora_failures import aurora_error
from admin.integration_view import subscriptions_of
from admin.resources import Resources
from admin.store import (
    credentials,
)
from pipeline_common.aurora import (
    AuroraCredentials,
    AuroraError,
)
from pipeline_common.integration_log import write_log
from pipeline_common.vocabulary import LogKind


async def delete_obsolete(
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


async def sync(res: Resources, row: Any, kinds: list[str]) -> subscriptions.SyncPlan:
    creds = credentials(res, row)
    recorded = {s.event: s.aurora_webhook_id for s in await subscriptions_of(res.pool, row["id"])}
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
        raise await aurora_error(res, row, exc) from None
