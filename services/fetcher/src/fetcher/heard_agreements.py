"""The agreements the trigger filter heard of for a project, read through the functions of migration 0007.

Aurora has no call that lists a project's agreements; the integration always subscribes to
`agreement_status_changed` and the trigger filter (the table's only writer) records every agreement it hears
about. The fetcher reads that record only through `project_agreements()` and `heard_agreement()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class HeardAgreement:
    agreement_id: str
    status: str
    signed_at: datetime | None


def _of(row: Any) -> HeardAgreement | None:
    if row is None:
        return None
    return HeardAgreement(agreement_id=row["agreement_id"], status=row["status"], signed_at=row["signed_at"])


async def agreement_to_use(
    pool: asyncpg.Pool[Any], integration_id: str, aurora_project_id: str
) -> HeardAgreement | None:
    """The project's latest signed agreement, else its latest one; None when none was heard of."""
    row = await pool.fetchrow(
        "SELECT agreement_id, status, signed_at FROM project_agreements($1::uuid, $2) LIMIT 1",
        integration_id,
        aurora_project_id,
    )
    return _of(row)


async def agreement_heard(pool: asyncpg.Pool[Any], integration_id: str, agreement_id: str) -> HeardAgreement | None:
    row = await pool.fetchrow(
        "SELECT agreement_id, status, signed_at FROM heard_agreement($1::uuid, $2)", integration_id, agreement_id
    )
    return _of(row)
