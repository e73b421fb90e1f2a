"""The record of every agreement the integration hears about (table `heard_agreements`, migration 0007).

Aurora cannot list a project's agreements, so this record is how a project-status import, a re-sync or a
backfill finds the signed agreement (its PDF, its financing, its signed date). It is written for every
`agreement_status_changed` webhook, whether or not agreements are a trigger; this module is its only writer.
The fetcher reads it through `project_agreements()` / `heard_agreement()`.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from pipeline_common.events import AuroraEventKind, WebhookReceived
from trigger_filter.rules import normalise_status

# `signed` is terminal in Aurora, so it is sticky here: a late `viewed` or a duplicate never replaces it.
# The signed date is the first time the signed webhook arrived (a redelivery does not move it).
_UPSERT = """
INSERT INTO heard_agreements AS h (integration_id, agreement_id, aurora_project_id, status, design_id,
                                   financing_id, first_heard_at, last_heard_at, signed_at)
VALUES ($1::uuid, $2, $3, $4::text, $5, $6, $7::timestamptz, $7::timestamptz,
        CASE WHEN $4::text = 'signed' THEN $7::timestamptz END)
ON CONFLICT (integration_id, agreement_id) DO UPDATE SET
    status = CASE WHEN h.status = 'signed' THEN h.status ELSE EXCLUDED.status END,
    design_id = COALESCE(EXCLUDED.design_id, h.design_id),
    financing_id = COALESCE(EXCLUDED.financing_id, h.financing_id),
    first_heard_at = LEAST(h.first_heard_at, EXCLUDED.first_heard_at),
    last_heard_at = GREATEST(h.last_heard_at, EXCLUDED.last_heard_at),
    signed_at = CASE WHEN EXCLUDED.signed_at IS NULL THEN h.signed_at
                     ELSE LEAST(COALESCE(h.signed_at, EXCLUDED.signed_at), EXCLUDED.signed_at) END
"""


def _blank_to_none(value: str | None) -> str | None:
    # Aurora substitutes an absent placeholder with an empty string (`<FINANCING_ID>` with no financing).
    return value.strip() or None if value is not None else None


async def record_agreement(pool: asyncpg.Pool[Any], integration_id: str, event: WebhookReceived) -> bool:
    """Records the agreement an `agreement_status_changed` webhook names; False when there is nothing to record."""
    if event.event != AuroraEventKind.AGREEMENT_STATUS_CHANGED.value:
        return False
    agreement_id = _blank_to_none(event.agreement_id)
    project_id = _blank_to_none(event.aurora_project_id)
    status = normalise_status(event.status or "")
    if not agreement_id or not project_id or not status:
        return False
    await pool.execute(
        _UPSERT,
        integration_id,
        agreement_id,
        project_id,
        status,
        _blank_to_none(event.design_id),
        _blank_to_none(event.financing_id),
        event.received_at,
    )
    return True
