"""Which Aurora events start an import (the guide's trigger step), under /v1/integrations/aurora/triggers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from admin import subscriptions
from admin.errors import error_responses, validation_error
from admin.integration_view import subscriptions_of, triggers_of
from admin.resources import Resources, resources
from admin.schemas import (
    TriggerRule,
    TriggersOut,
    TriggersUpdate,
)
from admin.security import CurrentCompany
from admin.store import (
    credentials,
    require_live,
)
from admin.subscription_sync import delete_obsolete, sync
from pipeline_common.integration_log import write_log
from pipeline_common.vocabulary import TRIGGER_AGREEMENT_STATUSES, LogKind, TriggerKind

router = APIRouter(prefix="/v1/integrations/aurora", tags=["aurora integration"])
Res = Annotated[Resources, Depends(resources)]


# ---------------------------------------------------------------- triggers


def validate_rules(rules: list[TriggerRule]) -> list[TriggerRule]:
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


async def replace_triggers(conn: Any, integration_id: uuid.UUID, rules: list[TriggerRule]) -> None:
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


@router.get(
    "/triggers",
    response_model=TriggersOut,
    summary="The triggers that start an import",
    responses=error_responses(401, 404),
)
async def get_triggers(company: CurrentCompany, res: Res) -> TriggersOut:
    row = await require_live(res.pool, company.id)
    return TriggersOut(
        triggers=await triggers_of(res.pool, row["id"]), subscriptions=await subscriptions_of(res.pool, row["id"])
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
    rules = validate_rules(body.triggers)
    row = await require_live(res.pool, company.id)
    plan = await sync(res, row, [r.kind for r in rules])
    async with res.pool.acquire() as conn, conn.transaction():
        await replace_triggers(conn, row["id"], rules)
        await subscriptions.record(conn, row["id"], plan.subscriptions)
        await write_log(
            conn,
            company_id=company.id,
            integration_id=row["id"],
            kind=LogKind.SETTINGS,
            message="triggers changed: " + "; ".join(f"{r.kind} → {', '.join(r.statuses)}" for r in rules),
            details={"triggers": [r.model_dump() for r in rules], "subscriptions": plan.subscriptions},
        )
    await delete_obsolete(res, credentials(res, row), company.id, row["id"], plan.obsolete)
    return TriggersOut(triggers=rules, subscriptions=await subscriptions_of(res.pool, row["id"]))
