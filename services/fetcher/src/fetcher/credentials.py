"""Aurora credentials per integration, decrypted from Postgres and cached briefly (a replaced token is seen
within seconds).

Only active integrations are cached: one that needs attention or is disconnected is read again each time,
so an import resumed right after the company replaced its token sees the new token at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from pipeline_common.aurora import AuroraCredentials
from pipeline_common.secrets import TokenCipher


@dataclass(frozen=True)
class IntegrationAccess:
    integration_id: str
    company_id: str
    status: str
    credentials: AuroraCredentials


class CredentialStore:
    def __init__(self, pool: asyncpg.Pool[Any], cipher: TokenCipher, ttl_seconds: float = 2.0) -> None:
        self._pool = pool
        self._cipher = cipher
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, IntegrationAccess | None]] = {}

    async def get(self, integration_id: str, *, fresh: bool = False) -> IntegrationAccess | None:
        now = time.monotonic()
        hit = self._cache.get(integration_id)
        if hit and not fresh and now - hit[0] < self._ttl:
            return hit[1]
        row = await self._pool.fetchrow(
            "SELECT id::text, company_id::text, status, aurora_tenant_id, token_ciphertext "
            "FROM integration_credentials WHERE id = $1::uuid",
            integration_id,
        )
        access = None
        if row is not None:
            access = IntegrationAccess(
                integration_id=row["id"],
                company_id=row["company_id"],
                status=row["status"],
                credentials=AuroraCredentials(
                    tenant_id=row["aurora_tenant_id"], token=self._cipher.decrypt(row["token_ciphertext"])
                ),
            )
        if access is not None and access.status == "active":
            self._cache[integration_id] = (now, access)
        else:
            self._cache.pop(integration_id, None)
        return access

    def forget(self, integration_id: str) -> None:
        self._cache.pop(integration_id, None)
