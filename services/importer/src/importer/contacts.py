"""The customer as a CRM contact: matched by email within the company (the unique index on lower(email)),
else the project's current contact, else a new one. The strategy decides which blanks overwrite.

"Else the project's current contact" holds when Aurora has an email no contact of the company has: a project
matched by address and last name keeps its contact (now with Aurora's email) rather than trading it for a
new contact without the phone or name the CRM had, which would blank them under enrich."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from importer.standard_fields import CONTACT_COLUMNS
from pipeline_common.vocabulary import MatchingStrategy

_COLS: Final = ", ".join(CONTACT_COLUMNS)
_PARAMS: Final = ", ".join(f"${i + 3}" for i in range(len(CONTACT_COLUMNS)))
_KEEP: Final = f"${len(CONTACT_COLUMNS) + 3}::text[]"


def _assign(column: str, new: str) -> str:
    # A blank keeps the stored value when the column is in the keep list (enrich, or not read this time).
    return f"{column} = CASE WHEN {new} IS NULL AND '{column}' = ANY({_KEEP}) THEN contacts.{column} ELSE {new} END"


_UPSERT_BY_EMAIL: Final = (
    f"INSERT INTO contacts (id, company_id, {_COLS}) VALUES ($1, $2, {_PARAMS}) "  # noqa: S608 - fixed column names
    "ON CONFLICT (company_id, lower(email)) WHERE email IS NOT NULL DO UPDATE SET "
    + ", ".join(_assign(c, f"EXCLUDED.{c}") for c in CONTACT_COLUMNS)
    + ", updated_at = now() RETURNING *"
)
_UPDATE_BY_ID: Final = (
    "UPDATE contacts SET "  # noqa: S608 - fixed column names
    + ", ".join(_assign(c, f"${i + 3}::text") for i, c in enumerate(CONTACT_COLUMNS))
    + ", updated_at = now() WHERE id = $1 AND company_id = $2 RETURNING *"
)
_INSERT: Final = f"INSERT INTO contacts (id, company_id, {_COLS}) VALUES ($1, $2, {_PARAMS}) RETURNING *"  # noqa: S608


async def _email_taken(conn: Any, company: uuid.UUID, email: str, current: Mapping[str, Any]) -> bool:
    """Whether another contact than the project's has this email (then that contact is the customer)."""
    taken = await conn.fetchval(
        "SELECT true FROM contacts WHERE company_id = $1 AND lower(email) = lower($2) AND id <> $3",
        company,
        email,
        uuid.UUID(str(current["id"])),
    )
    return bool(taken)


async def save_contact(
    conn: Any,
    company_id: str,
    fields: Mapping[str, Any],
    *,
    strategy: MatchingStrategy,
    unknown: set[str],
    current: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """The contact row after the import, or None when Aurora names no customer and the project has none."""
    keep = list(CONTACT_COLUMNS) if strategy is not MatchingStrategy.REPLACE else sorted(unknown & set(CONTACT_COLUMNS))
    values = [fields.get(c) for c in CONTACT_COLUMNS]
    company = uuid.UUID(company_id)
    email = fields.get("email")
    if email and (current is None or await _email_taken(conn, company, email, current)):
        row = await conn.fetchrow(_UPSERT_BY_EMAIL, uuid.uuid4(), company, *values, keep)
    elif current is not None:
        row = await conn.fetchrow(_UPDATE_BY_ID, uuid.UUID(str(current["id"])), company, *values, keep)
    elif any(v is not None for v in values):
        row = await conn.fetchrow(_INSERT, uuid.uuid4(), company, *values)
    else:
        return None
    return dict(row) if row is not None else None
