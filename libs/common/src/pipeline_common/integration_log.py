"""The integration log a company reads (admin API, settings page): one writer for every service."""

from __future__ import annotations

import uuid
from typing import Any

from pipeline_common.vocabulary import LogKind

IdLike = str | uuid.UUID


def _uuid(value: IdLike | None) -> str | None:
    return str(value) if value is not None else None


async def write_log(
    conn: Any,
    *,
    company_id: IdLike,
    integration_id: IdLike | None,
    kind: LogKind,
    message: str,
    event_id: str | None = None,
    aurora_project_id: str | None = None,
    action: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """`conn` is a pool or a connection; with a connection the entry joins its transaction."""
    await conn.execute(
        "INSERT INTO integration_log (company_id, integration_id, event_id, kind, aurora_project_id, action, "
        "message, details) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8)",
        _uuid(company_id),
        _uuid(integration_id),
        event_id,
        kind,
        aurora_project_id,
        action,
        message,
        details or {},
    )


async def mark_needs_attention(conn: Any, *, company_id: IdLike, integration_id: IdLike, reason: str) -> bool:
    """Flag an active integration as needing the company's action (e.g. Aurora rejected its token) and log it
    once; returns whether this call changed the status."""
    changed = await conn.fetchval(
        "SELECT flag_integration_needs_attention($1::uuid, $2)", _uuid(integration_id), reason
    )
    if changed:
        await write_log(
            conn, company_id=company_id, integration_id=integration_id, kind=LogKind.NEEDS_ATTENTION, message=reason
        )
    return bool(changed)
