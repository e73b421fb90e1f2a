"""What the importer needs to know about an integration: strategy, workflow, environment, custom mappings.

Read once per integration every couple of seconds, not once per import: at hundreds of imports a second the
settings of one company are read far more often than they change, and an admin change is still seen within
`ttl` seconds without a restart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline_common.mapping_catalog import PropertyType
from pipeline_common.vocabulary import MatchingStrategy


@dataclass(frozen=True, slots=True)
class CustomMapping:
    """One company mapping: an Aurora snapshot path into one of its custom properties."""

    property_id: uuid.UUID
    key: str
    type: PropertyType
    options: tuple[str, ...]
    aurora_path: str


@dataclass(frozen=True, slots=True)
class IntegrationSettings:
    integration_id: str
    company_id: str
    status: str
    environment: str
    strategy: MatchingStrategy
    workflow_id: uuid.UUID | None
    first_stage: str | None
    custom_mappings: tuple[CustomMapping, ...]


_QUERY = """
SELECT i.company_id::text AS company_id, i.status, i.environment, i.matching_strategy, w.id AS workflow_id,
       w.stages[1] AS first_stage,
       (SELECT coalesce(json_agg(json_build_object(
                   'property_id', p.id, 'key', p.key, 'type', p.type, 'options', p.options,
                   'aurora_path', m.aurora_path) ORDER BY p.key), '[]')::text
          FROM custom_mappings m
          JOIN custom_properties p ON p.id = m.custom_property_id AND p.company_id = i.company_id
         WHERE m.integration_id = i.id) AS mappings
  FROM integration_directory i
  LEFT JOIN workflows w ON w.id = i.workflow_id AND w.company_id = i.company_id
 WHERE i.id = $1::uuid
"""


def _mapping(raw: dict[str, Any]) -> CustomMapping:
    return CustomMapping(
        property_id=uuid.UUID(raw["property_id"]),
        key=raw["key"],
        type=PropertyType(raw["type"]),
        options=tuple(raw.get("options") or ()),
        aurora_path=raw["aurora_path"],
    )


class IntegrationSettingsCache:
    def __init__(self, ttl: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, IntegrationSettings | None]] = {}

    async def get(self, conn: Any, integration_id: str) -> IntegrationSettings | None:
        now = self.clock()
        cached = self._entries.get(integration_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        settings = await self.load(conn, integration_id)
        self._entries[integration_id] = (now, settings)
        return settings

    @staticmethod
    async def load(conn: Any, integration_id: str) -> IntegrationSettings | None:
        row = await conn.fetchrow(_QUERY, integration_id)
        if row is None:
            return None
        return IntegrationSettings(
            integration_id=integration_id,
            company_id=row["company_id"],
            status=row["status"],
            environment=row["environment"],
            strategy=MatchingStrategy(row["matching_strategy"]),
            workflow_id=row["workflow_id"],
            first_stage=row["first_stage"],
            custom_mappings=tuple(_mapping(m) for m in orjson.loads(row["mappings"])),
        )
