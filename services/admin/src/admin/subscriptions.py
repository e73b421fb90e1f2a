"""The webhook subscriptions in Aurora that a company's triggers need, kept in step with the triggers.

One subscription per event kind a trigger uses, plus `agreement_status_changed` always: Aurora has no call that
lists a project's agreements, so the integration hears every agreement (the trigger filter records them) and a
project-status import, a re-sync or a backfill can attach the signed agreement, its PDF and its signed date.
Aurora's subscriptions cannot filter by status through the API (the field is undocumented), so every status
arrives and the trigger filter decides; this keeps the number of subscriptions at most two per tenant, well
under Aurora's five-per-event limit.

Sync is create-before-delete: the new set exists in Aurora before the database points at it, and the old
subscriptions are removed only afterwards (best effort), so a failure never leaves the company without
webhooks. Subscriptions found in Aurora that point at this integration's URL but are not recorded (a lost
create response, a crashed request) are treated as ours and removed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from admin.resources import Resources
from pipeline_common import webhooks
from pipeline_common.aurora import AuroraCredentials, AuroraError, NewWebhook, Webhook
from pipeline_common.events import AuroraEventKind
from pipeline_common.logs import get_logger

log = get_logger("admin.subscriptions")


# Subscribed whatever the triggers: the only way to learn a project's agreements (see the module docstring).
ALWAYS_SUBSCRIBED = frozenset({AuroraEventKind.AGREEMENT_STATUS_CHANGED.value})


def needed_events(trigger_kinds: Iterable[str]) -> set[str]:
    """The Aurora events the integration subscribes to for these trigger kinds."""
    return set(trigger_kinds) | ALWAYS_SUBSCRIBED


@dataclass
class SyncPlan:
    """`subscriptions` is what the database should record; `obsolete` the Aurora ids to delete after commit."""

    subscriptions: dict[str, str]
    created: list[str] = field(default_factory=list)
    obsolete: list[str] = field(default_factory=list)


def header_value(res: Resources, integration_id: uuid.UUID, generation: int) -> SecretStr:
    secret = res.signer.secret_for(str(integration_id), generation)
    return SecretStr(webhooks.secret_header_value(generation, secret))


def template_for(res: Resources, integration_id: uuid.UUID, event: str) -> str:
    return webhooks.url_template(res.settings.public_webhook_base_url, str(integration_id), event)


def _is_ours(hook: Webhook, integration_id: uuid.UUID) -> bool:
    return webhooks.webhook_path(str(integration_id)) + "?" in (hook.url_template or "")


async def plan_and_create(
    res: Resources,
    creds: AuroraCredentials,
    *,
    integration_id: uuid.UUID,
    generation: int,
    needed_events: set[str],
    recorded: dict[str, str],
) -> SyncPlan:
    """Create whatever is missing in Aurora; on failure, undo the creations and re-raise."""
    in_aurora = {h.id: h for h in await res.aurora.list_webhooks(creds, per_page=250) if _is_ours(h, integration_id)}
    plan = SyncPlan(subscriptions={})
    try:
        for event in sorted(needed_events):
            current = in_aurora.get(recorded.get(event, ""))
            if (
                current is not None
                and current.event == event
                and current.enabled is not False
                and current.url_template == template_for(res, integration_id, event)
            ):
                plan.subscriptions[event] = current.id
                continue
            created = await res.aurora.create_webhook(
                creds,
                NewWebhook(
                    event=event,
                    url_template=template_for(res, integration_id, event),
                    description=f"CRM import pipeline ({event})",
                    enabled=True,
                    header_auth_key=webhooks.SECRET_HEADER,
                    header_auth_value=header_value(res, integration_id, generation),
                ),
            )
            plan.subscriptions[event] = created.id
            plan.created.append(created.id)
    except AuroraError:
        await delete_best_effort(res, creds, plan.created)
        raise
    keep = set(plan.subscriptions.values())
    plan.obsolete = [hook_id for hook_id in in_aurora if hook_id not in keep]
    # Recorded ids Aurora no longer lists are already gone; nothing to delete for them.
    return plan


async def delete_best_effort(
    res: Resources, creds: AuroraCredentials, webhook_ids: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Delete each id; return (deleted, {id: why it failed}). A 404 counts as deleted."""
    deleted: list[str] = []
    failed: dict[str, str] = {}
    for hook_id in webhook_ids:
        try:
            await res.aurora.delete_webhook(creds, hook_id)
            deleted.append(hook_id)
        except AuroraError as exc:
            if exc.status == 404:
                deleted.append(hook_id)
            else:
                failed[hook_id] = str(exc)
                log.warning("aurora_webhook_delete_failed", webhook_id=hook_id, error=str(exc))
    return deleted, failed


async def record(conn: Any, integration_id: uuid.UUID, subscriptions: dict[str, str]) -> None:
    await conn.execute("DELETE FROM aurora_subscriptions WHERE integration_id = $1", integration_id)
    for event, hook_id in sorted(subscriptions.items()):
        await conn.execute(
            "INSERT INTO aurora_subscriptions (id, integration_id, event, aurora_webhook_id) VALUES ($1, $2, $3, $4)",
            uuid.uuid4(),
            integration_id,
            event,
            hook_id,
        )
