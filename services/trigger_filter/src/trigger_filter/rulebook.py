"""Company rules read from Postgres, cached for a few seconds so admin changes apply without a restart."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from trigger_filter.rules import IntegrationRules, TriggerRule


class RuleBook:
    def __init__(self, pool: asyncpg.Pool[Any], ttl_seconds: float = 2.0) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, IntegrationRules | None]] = {}

    async def for_integration(self, integration_id: str) -> IntegrationRules | None:
        cached = self._cache.get(integration_id)
        now = time.monotonic()
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        rules = await self._load(integration_id)
        self._cache[integration_id] = (now, rules)
        return rules

    async def _load(self, integration_id: str) -> IntegrationRules | None:
        row = await self._pool.fetchrow(
            "SELECT id::text, company_id::text, aurora_tenant_id, status "
            "FROM integration_directory WHERE id = $1::uuid",
            integration_id,
        )
        if row is None:
            return None
        triggers = await self._pool.fetch(
            "SELECT kind, statuses FROM triggers WHERE integration_id = $1::uuid ORDER BY position, created_at",
            integration_id,
        )
        return IntegrationRules(
            integration_id=row["id"],
            company_id=row["company_id"],
            aurora_tenant_id=row["aurora_tenant_id"],
            status=row["status"],
            rules=tuple(TriggerRule.of(t["kind"], list(t["statuses"])) for t in triggers),
        )
