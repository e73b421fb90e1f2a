"""Which CRM project an Aurora project is. Rules, first that finds one wins:

1. `aurora_project_id`: the company's project already linked to this Aurora project.
2. `address_and_email` / `address_and_last_name`: a project of the company not linked to any Aurora project,
   at the same normalised property address (`projects.address_key`, computed by the database: street and
   postal code, lower-cased, punctuation-free, street words abbreviated) whose contact has the customer's
   email or, failing that, last name (case-insensitive). A project already linked to another Aurora project
   is that project's, never taken over.

The project row is locked (FOR UPDATE), so two imports never update the same project at once; a project
linked by a concurrent import between the lookup and the lock is no longer a candidate (the WHERE clause is
re-checked on the locked row).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from pipeline_common.mapping_catalog import resolve_path


class MatchRule(StrEnum):
    AURORA_PROJECT = "aurora_project_id"
    ADDRESS_AND_EMAIL = "address_and_email"
    ADDRESS_AND_LAST_NAME = "address_and_last_name"


@dataclass(frozen=True, slots=True)
class MatchKeys:
    aurora_project_id: str
    street: str | None
    postal_code: str | None
    full_address: str | None
    email: str | None
    last_name: str | None

    @classmethod
    def from_snapshot(cls, aurora_project_id: str, snapshot: dict[str, Any]) -> MatchKeys:
        def text(path: str) -> str | None:
            value = resolve_path(snapshot, path)
            return value.strip() or None if isinstance(value, str) else None

        components = "project.location.property_address_components"
        return cls(
            aurora_project_id=aurora_project_id,
            street=text(f"{components}.street_address"),
            postal_code=text(f"{components}.postal_code"),
            full_address=text("project.location.property_address"),
            email=text("project.customer_email"),
            last_name=text("project.customer_last_name"),
        )


@dataclass(frozen=True, slots=True)
class Match:
    project: dict[str, Any]
    contact: dict[str, Any] | None  # the project's contact as it was before this import
    rule: MatchRule


_FIND = """
WITH candidate AS (
    (SELECT p.id, 1 AS priority, 'aurora_project_id' AS rule, p.updated_at
       FROM projects p
      WHERE p.company_id = $1 AND p.aurora_project_id = $2)
    UNION ALL
    (SELECT p.id,
            CASE WHEN lower(c.email) = lower($3) THEN 2 ELSE 3 END,
            CASE WHEN lower(c.email) = lower($3) THEN 'address_and_email' ELSE 'address_and_last_name' END,
            p.updated_at
       FROM projects p JOIN contacts c ON c.id = p.contact_id
      WHERE p.company_id = $1 AND p.aurora_project_id IS NULL
        AND p.address_key = crm_address_key($5, $6, $7)
        AND (lower(c.email) = lower($3) OR lower(c.last_name) = lower($4)))
    ORDER BY priority, updated_at DESC
    LIMIT 1
)
SELECT p.*, candidate.rule AS match_rule, row_to_json(c)::text AS contact_json
  FROM projects p
  JOIN candidate ON candidate.id = p.id
  LEFT JOIN contacts c ON c.id = p.contact_id
 WHERE p.aurora_project_id IS NULL OR p.aurora_project_id = $2
   FOR UPDATE OF p
"""


async def find_project(conn: Any, company_id: str, keys: MatchKeys) -> Match | None:
    row = await conn.fetchrow(
        _FIND,
        uuid.UUID(company_id),
        keys.aurora_project_id,
        keys.email,
        keys.last_name,
        keys.street,
        keys.postal_code,
        keys.full_address,
    )
    if row is None:
        return None
    project = dict(row)
    rule = MatchRule(project.pop("match_rule"))
    contact_json = project.pop("contact_json")
    return Match(project=project, contact=orjson.loads(contact_json) if contact_json else None, rule=rule)
